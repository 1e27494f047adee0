"""Counts of jobs grouped by up to three dimensions: one GROUP BY statement, through the same
predicate compiler and organization scope as `jobs`.

Groups come biggest first (ties in the dimensions' order), at most MAX_GROUPS of them; the
statement reads one group more to say `truncated`, and the total over all groups rides along as
a window sum, so a dashboard's counts cost one statement however many groups there are.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import ColumnElement, Select, and_, func, select, true

from app.db.models import jobs
from app.errors import BadUserInput
from app.services import rollup
from app.services.jobs import JobScope
from app.services.timebuckets import utc_bucket
from app.services.verdicts import verdict_name
from app.tql import JOB_FIELDS, And, Condition, Op, Predicate, TimeRange, compile_predicate

MAX_DIMENSIONS = 3
MAX_GROUPS = 1000
DIMENSIONS = ("STATUS", "ANALYZER", "DATA_TYPE", "TLP", "VERDICT", "TIME")


@dataclass(frozen=True, slots=True)
class StatsGroup:
    status: str | None = None
    analyzer_id: str | None = None
    analyzer_name: str | None = None
    data_type: str | None = None
    tlp: int | None = None
    verdict: str | None = None
    bucket_start: datetime | None = None
    count: int = 0


@dataclass(frozen=True, slots=True)
class Stats:
    total: int
    groups: list[StatsGroup]
    truncated: bool


def check_dimensions(dimensions: Sequence[str], tree: Predicate | None) -> tuple[str, ...]:
    """The dimensions, checked: 1 to 3, no repeats, TIME only over a bounded createdAt."""
    if not dimensions:
        raise BadUserInput("groupBy needs at least one dimension", argument="groupBy")
    if len(dimensions) > MAX_DIMENSIONS:
        raise BadUserInput(
            f"groupBy takes at most {MAX_DIMENSIONS} dimensions, found {len(dimensions)}",
            argument="groupBy",
        )
    if len(set(dimensions)) != len(dimensions):
        raise BadUserInput("groupBy names a dimension twice", argument="groupBy")
    if "TIME" in dimensions and _created_bounds(tree) != (True, True):
        raise BadUserInput(
            "groupBy TIME needs a bounded createdAt range: a timeRange over CREATED_AT with "
            'from and to, or createdAt bounds on both sides (createdAt between "now - 7 days" '
            'and "now")',
            argument="groupBy",
        )
    return tuple(dimensions)


def _created_bounds(tree: Predicate | None) -> tuple[bool, bool]:
    """Whether the tree's top-level conjunction bounds createdAt from below and above."""
    if isinstance(tree, And):
        found = [_created_bounds(item) for item in tree.items]
        return any(low for low, _ in found), any(high for _, high in found)
    if isinstance(tree, TimeRange) and tree.fields == ("createdAt",):
        return tree.start is not None, tree.end is not None
    if isinstance(tree, Condition) and tree.field == "createdAt":
        low = tree.op in (Op.GT, Op.GTE, Op.EQ, Op.BETWEEN)
        high = tree.op in (Op.LT, Op.LTE, Op.EQ, Op.BETWEEN)
        return low, high
    return False, False


def _columns(dimension: str, bucket: str) -> list[ColumnElement[Any]]:
    if dimension == "STATUS":
        return [jobs.c.status]
    if dimension == "ANALYZER":
        return [jobs.c.analyzer_id, jobs.c.analyzer_name]
    if dimension == "DATA_TYPE":
        return [jobs.c.data_type]
    if dimension == "TLP":
        return [jobs.c.tlp]
    if dimension == "VERDICT":
        return [jobs.c.verdict]
    return [utc_bucket(jobs.c.created_at, bucket)]


def stats_query(
    scope: JobScope,
    predicate: ColumnElement[bool] | None,
    dimensions: Sequence[str],
    bucket: str,
    tree: Predicate | None = None,
) -> Select[Any]:
    """SELECT dims…, count, total-over-all-groups … GROUP BY dims, biggest first, one past
    the limit: over the rollup's whole days and job's edge days when the rollup can answer
    (app/services/rollup.py), else over job alone. `predicate` is `tree` compiled."""
    keys = [column for d in dimensions for column in _columns(d, bucket)]
    if bucket != "HOUR" or "TIME" not in dimensions:  # the rollup's grain is the UTC day
        now = datetime.now(UTC)
        planned = rollup.plan(tree, now)
        if planned is not None:
            days, left = planned
            # Compiled again at the plan's `now`: the edges and the days meet exactly.
            full = compile_predicate(tree, JOB_FIELDS, now) if tree is not None else true()
            parts = rollup.rollup_parts(scope, days, left, full, keys)
            return rollup.summed(parts, len(keys), MAX_GROUPS + 1)
    count = func.count()
    where = and_(scope.where(), predicate if predicate is not None else true())
    return (
        select(*keys, count.label("n"), func.sum(count).over().label("total"))
        .where(where)
        .group_by(*keys)
        .order_by(count.desc(), *(key.asc().nulls_last() for key in keys))
        .limit(MAX_GROUPS + 1)
    )


def stats_of(rows: Sequence[Any], dimensions: Sequence[str]) -> Stats:
    """The answer from the statement's rows (plain tuples by position)."""
    groups = []
    for row in rows[:MAX_GROUPS]:
        values: dict[str, Any] = {}
        at = 0
        for dimension in dimensions:
            if dimension == "ANALYZER":
                values["analyzer_id"], values["analyzer_name"] = row[at], row[at + 1]
                at += 2
                continue
            value = row[at]
            at += 1
            if dimension == "STATUS":
                values["status"] = value
            elif dimension == "DATA_TYPE":
                values["data_type"] = value
            elif dimension == "TLP":
                values["tlp"] = value
            elif dimension == "VERDICT":
                values["verdict"] = verdict_name(value)
            else:
                values["bucket_start"] = _utc(value)
        groups.append(StatsGroup(count=int(row[at]), **values))
    total = int(rows[0][-1]) if rows else 0
    return Stats(total=total, groups=groups, truncated=len(rows) > MAX_GROUPS)


def _utc(value: Any) -> datetime:
    if isinstance(value, datetime):
        return value.astimezone(UTC)
    return datetime.fromisoformat(str(value)).replace(tzinfo=UTC)
