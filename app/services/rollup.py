"""jobStats' rollup: whole UTC days from job_count (+ pending deltas), the rest from job.

Migration 0008 made the tables and the triggers that keep them; this module reads them and
folds PostgreSQL's deltas. A request is answered from the rollup when its filter is a top-level
AND of createdAt bounds and conditions on the rollup's columns only (status, analyzer, data
type, TLP, verdict) and no group is by the hour. Then the days wholly inside the createdAt
bounds come from job_count and job_count_delta, and the jobs of the edge days from job, with
the full filter (an index range on created_at): the same counts as one GROUP BY over job.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Select,
    SmallInteger,
    String,
    Table,
    and_,
    delete,
    func,
    literal,
    select,
    text,
    type_coerce,
    union_all,
)
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql import visitors
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.elements import ColumnClause
from sqlalchemy.sql.functions import FunctionElement

from app.db.engine import Database
from app.db.models import job_count_deltas, job_counts, jobs
from app.services.jobs import JobScope
from app.services.timebuckets import utc_bucket
from app.tql import (
    JOB_FIELDS,
    And,
    Condition,
    Op,
    Predicate,
    RelativeTime,
    TimeRange,
    compile_predicate,
)

ROLLED_UP = frozenset(
    {"organization_id", "status", "analyzer_id", "analyzer_name", "data_type", "tlp", "verdict"}
)
DAY = timedelta(days=1)
# Folds run one at a time across server processes: a second would only wait on the first's rows.
FOLD_LOCK = 0x6A6F62636F756E74  # "jobcount"
KEYS = ", ".join(c.name for c in job_count_deltas.c if c.name != "n")
FOLD_PG = f"""
WITH moved AS (DELETE FROM job_count_delta RETURNING {KEYS}, n),
     summed AS (SELECT {KEYS}, sum(n) AS n FROM moved GROUP BY {KEYS})
INSERT INTO job_count AS c ({KEYS}, n) SELECT {KEYS}, n FROM summed WHERE n <> 0
ON CONFLICT ({KEYS}) DO UPDATE SET n = c.n + excluded.n"""


@dataclass(frozen=True, slots=True)
class Days:
    """The whole days [start, end) the rollup answers; None: unbounded on that side."""

    start: datetime | None
    end: datetime | None


def plan(tree: Predicate | None, now: datetime) -> tuple[Days, ColumnElement[bool] | None] | None:
    """The rollup's days and the filter left for its rows (over job's columns, compiled at
    `now`), or None when the rollup cannot answer `tree` (a condition on another column,
    createdAt under OR/NOT, no whole day)."""
    items = tree.items if isinstance(tree, And) else (tree,) if tree is not None else ()
    starts: list[datetime] = []
    ends: list[datetime] = []
    rest = []
    for item in items:
        bounds = _created_bounds(item, now)
        if bounds is None:
            rest.append(item)
            continue
        low, high = bounds
        starts += [low] if low else []
        ends += [high] if high else []
    days = Days(max(starts, default=None), min(ends, default=None))
    if days.start is not None and days.end is not None and days.start >= days.end:
        return None
    if not rest:
        return days, None
    left = compile_predicate(And(tuple(rest)), JOB_FIELDS, now)
    return (days, left) if _rolled_up(left) else None


def _created_bounds(
    item: Predicate, now: datetime
) -> tuple[datetime | None, datetime | None] | None:
    """For a createdAt bound: the first midnight from which every time satisfies it, and the
    last midnight before which every time does; None for any other condition."""
    if isinstance(item, TimeRange) and item.fields == ("createdAt",):
        low, high = _resolve(item.start, now), _resolve(item.end, now)
        return (_ceil(low, strict=False) if low else None), (_floor(high) if high else None)
    if not isinstance(item, Condition) or item.field != "createdAt":
        return None
    if item.op is Op.BETWEEN:
        assert isinstance(item.value, tuple)
        low, high = (_resolve(v, now) for v in item.value)
        return _ceil(low, strict=False), _floor(high)
    value = _resolve(item.value, now)
    if item.op in (Op.GT, Op.GTE):
        return _ceil(value, strict=item.op is Op.GT), None
    if item.op in (Op.LT, Op.LTE):
        return None, _floor(value)
    if item.op is Op.EQ:
        return _ceil(value, strict=False), _floor(value)
    return None


def _resolve(value: Any, now: datetime) -> Any:
    return now + value.offset if isinstance(value, RelativeTime) else value


def _floor(at: datetime) -> datetime:
    return at.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)


def _ceil(at: datetime, strict: bool) -> datetime:
    day = _floor(at)
    return day if day == at and not strict else day + DAY


def _rolled_up(where: ColumnElement[bool]) -> bool:
    """Whether `where` reads only job columns the rollup keeps (no subquery, no other table)."""
    for element in visitors.iterate(where):
        if isinstance(element, ColumnClause) and not (
            element.table is jobs and element.name in ROLLED_UP
        ):
            return False
    return True


def _on(table: Table) -> dict[str, ColumnElement[Any]]:
    """The rollup table's column for each job column it keeps (verdict: NULL for none)."""
    columns: dict[str, ColumnElement[Any]] = {name: table.c[name] for name in ROLLED_UP}
    columns["verdict"] = type_coerce(func.nullif(table.c.verdict, -1), SmallInteger())
    columns["created_at"] = table.c.day
    return columns


class rolled_day(FunctionElement[str]):  # noqa: N801 - SQL function style
    """utc_bucket(created_at, 'DAY') read from a rollup's day: the column itself on PostgreSQL
    (no date_trunc per row), the same text as utc_bucket's on SQLite, so both group alike."""

    type = String()
    inherit_cache = True


@compiles(rolled_day)
def _rolled_day_sqlite(element: rolled_day, compiler: SQLCompiler, **kw: Any) -> str:
    return f"(substr({compiler.process(element.clauses, **kw)}, 1, 10) || ' 00:00:00')"


@compiles(rolled_day, "postgresql")
def _rolled_day_pg(element: rolled_day, compiler: SQLCompiler, **kw: Any) -> str:
    return str(compiler.process(element.clauses, **kw))


def adapt(expression: ColumnElement[Any], table: Table) -> ColumnElement[Any]:
    """`expression` over job's columns, rewritten over `table`'s."""
    columns = _on(table)

    def swap(element: Any, **_: Any) -> Any:
        if isinstance(element, utc_bucket) and element.unit == "DAY":
            return rolled_day(table.c.day)
        if isinstance(element, ColumnClause) and element.table is jobs:
            return columns[element.name]
        return None

    options: dict[str, Any] = {}
    adapted: ColumnElement[Any] = visitors.replacement_traverse(expression, options, swap)
    return adapted


def rollup_parts(
    scope: JobScope,
    days: Days,
    left: ColumnElement[bool] | None,
    full: ColumnElement[bool],
    keys: Sequence[ColumnElement[Any]],
) -> list[Select[Any]]:
    """SELECT keys…, n per part: job_count and job_count_delta over the whole days, and job
    (with the full filter) before and after them. `keys` are over job's columns."""
    parts = []
    for table in (job_counts, job_count_deltas):
        where = [adapt(scope.where(), table)] + ([adapt(left, table)] if left is not None else [])
        where += [table.c.day >= days.start] if days.start else []
        where += [table.c.day < days.end] if days.end else []
        grouped = [adapt(key, table).label(f"k{i}") for i, key in enumerate(keys)]
        parts.append(
            select(*grouped, func.sum(table.c.n).label("n")).where(*where).group_by(*grouped)
        )
    # An edge is within a day of its bound (the filter's own bound lies in that day). It goes
    # first: SQLite takes the first range it finds on created_at for the index, and the
    # filter's 90-day range would make it walk 90 days of jobs for one.
    edges = []
    if days.start:
        edges.append(and_(jobs.c.created_at >= days.start - DAY, jobs.c.created_at < days.start))
    if days.end:
        edges.append(and_(jobs.c.created_at >= days.end, jobs.c.created_at < days.end + DAY))
    for edge in edges:
        labelled = [key.label(f"k{i}") for i, key in enumerate(keys)]
        rows = and_(edge, scope.where(), full)
        parts.append(select(*labelled, func.count().label("n")).where(rows).group_by(*labelled))
    return parts


def summed(parts: list[Select[Any]], width: int, limit: int) -> Select[Any]:
    """The parts' counts added up per group, empty groups left out, biggest first."""
    counts = union_all(*parts).subquery("counts")
    keys = [counts.c[f"k{i}"] for i in range(width)]
    n = func.sum(counts.c.n)
    return (
        select(*keys, n.label("n"), func.sum(n).over().label("total"))
        .group_by(*keys)
        .having(n > literal(0))
        .order_by(n.desc(), *(key.asc().nulls_last() for key in keys))
        .limit(limit)
    )


async def fold(db: Database) -> None:
    """Moves PostgreSQL's pending deltas into job_count (one transaction, so a reader sees
    them on one side or the other), and drops counts that reached zero (both databases)."""
    async with db.write() as conn:
        if conn.dialect.name == "postgresql":
            locked = await conn.scalar(select(func.pg_try_advisory_xact_lock(FOLD_LOCK)))
            if not locked:
                return
            await conn.execute(text(FOLD_PG))
        await conn.execute(delete(job_counts).where(job_counts.c.n == 0))
