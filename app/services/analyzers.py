"""Reading analyzers, always within one organization."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import ColumnElement, and_, func, select, true, update

from app.db.engine import Database
from app.db.lists import any_of
from app.db.models import analyzers, job_queue
from app.errors import BadUserInput, NotFound
from app.pagination import KeyType, Ordering, SortKey, Window
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
    db: Database, *, organization: str, analyzer_id: str, changes: dict[str, Any]
) -> Any:
    """The analyzer with `changes` applied; NotFound for another organization's."""
    where = and_(analyzers.c.id == analyzer_id, analyzers.c.organization_id == organization)
    async with db.write() as conn:
        current = (await conn.execute(select(*ANALYZER_COLUMNS).where(where))).one_or_none()
        if current is None:
            raise NotFound("No such analyzer", argument="id")
        check_settings(changes, current)
        if not changes:
            return current
        statement = update(analyzers).where(where).values(changes).returning(*ANALYZER_COLUMNS)
        return (await conn.execute(statement)).one()


async def queue_depths(db: Database, ids: Sequence[str]) -> dict[str, int]:
    """Jobs QUEUED now, per analyzer (analyzers are already scoped by the caller)."""
    query = (
        select(job_queue.c.analyzer_id, func.count())
        .where(any_of(db.dialect, job_queue.c.analyzer_id, ids), job_queue.c.state == "QUEUED")
        .group_by(job_queue.c.analyzer_id)
    )
    async with db.read() as conn:
        return {row[0]: row[1] for row in await conn.execute(query)}
