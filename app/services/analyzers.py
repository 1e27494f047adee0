"""Reading analyzers, always within one organization."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import ColumnElement, and_, func, insert, select, true, update

from app.db.engine import Database
from app.db.ids import new_id
from app.db.lists import any_of
from app.db.models import analyzers, job_queue, organizations
from app.errors import BadUserInput, Conflict, NotFound
from app.pagination import KeyType, Ordering, SortKey, Window
from app.services import audit
from app.services.audit import AuditAction
from app.services.listing import Listing

ANALYZER_COLUMNS = tuple(analyzers.c)
# Analyzers list by name, as the Cortex UI shows them; the id breaks ties.
ANALYZER_ORDERING = Ordering(
    (
        SortKey("NAME", analyzers.c.name, KeyType.STR, False, False, lambda r: r.name),
        SortKey("ID", analyzers.c.id, KeyType.STR, False, False, lambda r: r.id),
    )
)


def analyzer_listing(
    organization: str, predicate: ColumnElement[bool] | None, window: Window
) -> Listing:
    where = and_(
        analyzers.c.organization_id == organization,
        predicate if predicate is not None else true(),
    )
    return Listing(ANALYZER_COLUMNS, where, ANALYZER_ORDERING, window)


async def analyzers_by_id(db: Database, organization: str, ids: Sequence[str]) -> dict[str, Any]:
    query = select(*ANALYZER_COLUMNS).where(
        analyzers.c.organization_id == organization, any_of(db.dialect, analyzers.c.id, ids)
    )
    async with db.read() as conn:
        return {row.id: row for row in await conn.execute(query)}


# Settings an ORGADMIN changes (updateAnalyzer): column -> (lowest, highest) for numbers.
SETTING_BOUNDS: dict[str, tuple[int, int]] = {
    "job_cache_minutes": (0, 7 * 24 * 60),
    "rate": (1, 1_000_000),
    "max_concurrent": (1, 10_000),
    "max_attempts": (1, 10),
    "timeout_seconds": (1, 86_400),
}
REQUIRED = frozenset({"enabled", "max_attempts", "timeout_seconds"})  # never null


def check_settings(changes: dict[str, Any], current: Any) -> None:
    """BadUserInput naming the setting that is out of bounds or left half-given."""
    for name, value in changes.items():
        argument = "settings." + _camel(name)
        if value is None and name in REQUIRED:
            raise BadUserInput(f"{_camel(name)} cannot be null", argument=argument)
        bounds = SETTING_BOUNDS.get(name)
        if value is not None and bounds and not bounds[0] <= value <= bounds[1]:
            raise BadUserInput(f"{_camel(name)}: {bounds[0]} to {bounds[1]}", argument=argument)
    rate = changes.get("rate", current.rate)
    unit = changes.get("rate_unit", current.rate_unit)
    if (rate is None) != (unit is None):
        raise BadUserInput("rate and rateUnit go together", argument="settings.rate")


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(word.title() for word in rest)


async def update_settings(
    db: Database, *, organization: str, analyzer_id: str, changes: dict[str, Any], actor: str
) -> Any:
    """The analyzer with `changes` applied, audited with the values before and after;
    NotFound for another organization's."""
    where = and_(analyzers.c.id == analyzer_id, analyzers.c.organization_id == organization)
    async with db.write() as conn:
        current = (await conn.execute(select(*ANALYZER_COLUMNS).where(where))).one_or_none()
        if current is None:
            raise NotFound("No such analyzer", argument="id")
        check_settings(changes, current)
        if not changes:
            return current
        statement = update(analyzers).where(where).values(changes).returning(*ANALYZER_COLUMNS)
        updated = (await conn.execute(statement)).one()
        before = {name: getattr(current, name) for name in changes}
        await audit.record(
            conn,
            organization=organization,
            actor=actor,
            action=AuditAction.UPDATE_ANALYZER,
            target=analyzer_id,
            details={"name": current.name, "before": before, "after": changes},
        )
        return updated


async def queue_depths(db: Database, ids: Sequence[str]) -> dict[str, int]:
    """Jobs QUEUED now, per analyzer (analyzers are already scoped by the caller)."""
    query = (
        select(job_queue.c.analyzer_id, func.count())
        .where(any_of(db.dialect, job_queue.c.analyzer_id, ids), job_queue.c.state == "QUEUED")
        .group_by(job_queue.c.analyzer_id)
    )
    async with db.read() as conn:
        return {row[0]: row[1] for row in await conn.execute(query)}


# Cortex's TLP scale (WHITE 0 … RED 3); an analyzer definition without maxTlp takes AMBER,
# Cortex's own default for an analyzer's `max_tlp`.
DEFAULT_MAX_TLP = 2


def from_definition(definition: Any) -> dict[str, Any]:
    """The analyzer row's fields from a Cortex analyzer definition (its JSON file), named
    as Cortex names the instance: `<name>_<version with dots as _>`."""
    if not isinstance(definition, dict):
        raise BadUserInput("the definition is a JSON object", argument="file")
    name, version = definition.get("name"), definition.get("version")
    for field, value in (("name", name), ("version", version)):
        if not isinstance(value, str) or not value.strip():
            raise BadUserInput(f"the definition needs a {field} (a string)", argument=field)
    assert isinstance(name, str) and isinstance(version, str)
    data_types = definition.get("dataTypeList")
    if (
        not isinstance(data_types, list)
        or not data_types
        or not all(isinstance(t, str) and t for t in data_types)
    ):
        raise BadUserInput("dataTypeList is a non-empty list of strings", argument="dataTypeList")
    max_tlp = definition.get("maxTlp", _config(definition).get("max_tlp", DEFAULT_MAX_TLP))
    if type(max_tlp) is not int or not 0 <= max_tlp <= 3:
        raise BadUserInput("maxTlp is 0 to 3", argument="maxTlp")
    instance = f"{name}_{version.replace('.', '_')}"
    if len(instance) > 200:
        raise BadUserInput("name and version: at most 200 characters", argument="name")
    return {
        "name": instance,
        "definition_id": instance,
        "version": version,
        "description": _text(definition, "description"),
        "author": _text(definition, "author"),
        "license": _text(definition, "license"),
        "url": _text(definition, "url"),
        "data_types": list(dict.fromkeys(data_types)),
        "max_tlp": max_tlp,
    }


def _config(definition: dict[str, Any]) -> dict[str, Any]:
    config = definition.get("config")
    return config if isinstance(config, dict) else {}


def _text(definition: dict[str, Any], field: str) -> str | None:
    value = definition.get(field)
    if value is not None and not isinstance(value, str):
        raise BadUserInput(f"{field} is a string", argument=field)
    return value


async def add_analyzer(
    db: Database, *, organization: str, definition: Any, actor: str, enabled: bool = True
) -> Any:
    """A new analyzer of `organization` from a Cortex definition; CONFLICT when the
    organization has one of that name and version already."""
    fields = from_definition(definition)
    async with db.write() as conn:
        if (
            await conn.scalar(select(organizations.c.id).where(organizations.c.id == organization))
            is None
        ):
            raise NotFound(f"No organization {organization!r}", argument="org")
        taken = select(analyzers.c.id).where(
            analyzers.c.organization_id == organization, analyzers.c.name == fields["name"]
        )
        if await conn.scalar(taken) is not None:
            raise Conflict(f"{organization!r} has an analyzer {fields['name']!r} already")
        row = {
            **fields,
            "id": new_id(),
            "organization_id": organization,
            "enabled": enabled,
            "created_at": datetime.now(UTC),
        }
        added = (
            await conn.execute(insert(analyzers).values(row).returning(*ANALYZER_COLUMNS))
        ).one()
        await audit.record(
            conn,
            organization=organization,
            actor=actor,
            action=AuditAction.ADD_ANALYZER,
            target=added.id,
            details={"name": added.name, "version": added.version, "dataTypes": added.data_types},
        )
    return added


async def list_analyzers(db: Database, organization: str) -> list[Any]:
    query = (
        select(*ANALYZER_COLUMNS)
        .where(analyzers.c.organization_id == organization)
        .order_by(analyzers.c.name, analyzers.c.id)
    )
    async with db.read() as conn:
        return list(await conn.execute(query))
