"""The job event log read in commit order, through one opaque cursor.

On PostgreSQL a serial id is not commit order: a transaction can take id 10, stay open, and
commit after the one that took id 11. So each event also records its writing transaction's
id (`xid`, xid8), the log is ordered by (xid, id), and a reader only reads events whose xid
is below its fence: the oldest transaction its snapshot sees running (of this database: see
FENCE_SQL). Every transaction below the fence has ended, and every transaction that gets an
xid later gets one above it, so nothing can ever appear below a position once it was read.
A reader never skips an event and never reads one twice; the price is that an open writing
transaction of this database holds delivery of what committed after it until it ends
(writers are short: idle ones are cut off).

SQLite has one writer at a time and AUTOINCREMENT ids: the id alone is commit order (xid is
always 0 there), and everything a reader sees is settled.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Row,
    Select,
    and_,
    bindparam,
    literal_column,
    select,
    true,
    tuple_,
)
from sqlalchemy.ext.asyncio import AsyncConnection

from app.db.lists import any_of
from app.db.models import job_events, jobs
from app.db.types import XidType
from app.errors import BadUserInput, DomainError

HEAD = "HEAD"
_PREFIX = "ev1:"
JOB_PREFIX = "j_"


class CursorExpired(DomainError):
    """The cursor is further behind than the replay depth: start again from HEAD."""

    code = "CURSOR_EXPIRED"


@dataclass(frozen=True, slots=True, order=True)
class Position:
    """A place in the log: everything at or before it has been read."""

    xid: int
    id: int

    @property
    def cursor(self) -> str:
        raw = f"{_PREFIX}{self.xid}:{self.id}".encode()
        return base64.urlsafe_b64encode(raw).decode().rstrip("=")


START = Position(0, 0)


def decode(cursor: str, argument: str) -> Position:
    """The position a cursor names; BadUserInput for anything that is not one of ours."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        xid, _, event_id = raw.removeprefix(_PREFIX).partition(":")
        if not raw.startswith(_PREFIX) or len(cursor) > 80:
            raise ValueError(cursor)
        position = Position(int(xid), int(event_id))
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise BadUserInput(
            f'{argument}: not a cursor of the job event log (or "HEAD")', argument=argument
        ) from None
    if position.xid < 0 or position.id < 0 or position.xid >= 2**63 or position.id >= 2**63:
        raise BadUserInput(f"{argument}: not a cursor of the job event log", argument=argument)
    return position


@dataclass(frozen=True, slots=True)
class LogFilter:
    """Which events a reader wants: always one organization's; None means any."""

    organization: str
    job_ids: frozenset[str] | None = None
    analyzer_ids: frozenset[str] | None = None
    data_types: frozenset[str] | None = None
    statuses: frozenset[str] | None = None

    def matches(self, entry: Entry) -> bool:
        """The same test as `where`, in Python: the hub filters what it read for everyone."""
        job = entry.job
        return (
            job.organization_id == self.organization
            and (self.job_ids is None or job.id in self.job_ids)
            and (self.analyzer_ids is None or job.analyzer_id in self.analyzer_ids)
            and (self.data_types is None or job.data_type in self.data_types)
            and (self.statuses is None or entry.event.status in self.statuses)
        )

    def where(self, dialect: str) -> ColumnElement[bool]:
        conditions = [jobs.c.organization_id == self.organization]
        for column, values in (
            (job_events.c.job_id, self.job_ids),
            (jobs.c.analyzer_id, self.analyzer_ids),
            (jobs.c.data_type, self.data_types),
            (job_events.c.status, self.statuses),
        ):
            if values is not None:
                conditions.append(any_of(dialect, column, sorted(values)))
        return and_(*conditions)


class JobView:
    """The job columns of a log row (selected as j_<name>), read as a job row."""

    __slots__ = ("_row",)

    def __init__(self, row: Row[Any]) -> None:
        self._row = row

    def __getattr__(self, name: str) -> Any:
        return getattr(self._row, JOB_PREFIX + name)


@dataclass(frozen=True, slots=True)
class Entry:
    """One event of the log with its job as the read found it."""

    position: Position
    event: Row[Any]
    job: JobView

    @property
    def cursor(self) -> str:
        return self.position.cursor


@dataclass(frozen=True, slots=True)
class Page:
    entries: Sequence[Entry]
    end: Position  # where the next read starts: past every event this read settled


def _after(position: Position) -> ColumnElement[bool]:
    xid = bindparam("after_xid", position.xid, type_=XidType)
    return tuple_(job_events.c.xid, job_events.c.id) > tuple_(xid, position.id)


# The lowest transaction id that may still add events to this database's log: the lowest
# one the statement's snapshot sees in progress, leaving out those a backend connected to
# another database holds (a backend never changes database, and none writes to another's
# tables), else the snapshot's xmax. An xid not positively known to be another database's
# (ended meanwhile, a subtransaction, a prepared transaction, hidden by permissions) counts
# as ours: it only holds delivery back, never lets a read pass it. Without the filter this
# is pg_snapshot_xmin: then a long transaction in any database of the cluster (a CREATE
# DATABASE … TEMPLATE, a bulk load) would hold back every process's delivery.
FENCE_SQL = """(SELECT coalesce(min(running), pg_snapshot_xmax(pg_current_snapshot()))
  FROM pg_snapshot_xip(pg_current_snapshot()) AS running
  WHERE NOT EXISTS (
    SELECT 1 FROM pg_stat_activity AS other
    WHERE other.datname <> current_database()
      AND other.backend_xid::text::bigint = running::text::bigint % 4294967296))"""


def _fence(dialect: str) -> ColumnElement[bool]:
    if dialect != "postgresql":
        return true()
    return job_events.c.xid < literal_column(FENCE_SQL)


def _log_query() -> Select[Any]:
    job_columns = [c.label(JOB_PREFIX + c.name) for c in jobs.c]
    return (
        select(*job_events.c, *job_columns)
        .join(jobs, jobs.c.id == job_events.c.job_id)
        .order_by(job_events.c.xid, job_events.c.id)
    )


def _entries(rows: Iterable[Row[Any]]) -> list[Entry]:
    return [Entry(Position(int(r.xid), r.id), r, JobView(r)) for r in rows]


async def tail(conn: AsyncConnection, after: Position, limit: int) -> list[Entry]:
    """Every organization's settled events after `after`, oldest first: the hub's one query
    per wake, whatever the number of subscribers."""
    query = _log_query().where(_after(after), _fence(conn.dialect.name)).limit(limit)
    return _entries(await conn.execute(query))


async def settled_head(conn: AsyncConnection) -> Position:
    """The newest position below which nothing can still appear (HEAD)."""
    query = (
        select(job_events.c.xid, job_events.c.id)
        .where(_fence(conn.dialect.name))
        .order_by(job_events.c.xid.desc(), job_events.c.id.desc())
        .limit(1)
    )
    row = (await conn.execute(query)).one_or_none()
    return Position(int(row.xid), row.id) if row else START


async def page(conn: AsyncConnection, after: Position, wanted: LogFilter, limit: int) -> Page:
    """Up to `limit` of the reader's events after `after`: the polling query and catch-up.

    The head is read first; the events read are those up to it, so the end of a short page
    is the head itself, past the other organizations' events, and never past an event this
    reader could still be owed.
    """
    head = await settled_head(conn)
    if head <= after:
        return Page([], after)
    upto = tuple_(job_events.c.xid, job_events.c.id) <= tuple_(
        bindparam("head_xid", head.xid, type_=XidType), head.id
    )
    query = _log_query().where(_after(after), upto, wanted.where(conn.dialect.name))
    entries = _entries(await conn.execute(query.limit(limit)))
    end = entries[-1].position if len(entries) == limit else head
    return Page(entries, end)


async def check_depth(conn: AsyncConnection, after: Position, depth: int) -> None:
    """CursorExpired when more than `depth` events (of all organizations) follow `after`."""
    query = (
        select(job_events.c.id)
        .where(_after(after))
        .order_by(job_events.c.xid, job_events.c.id)
        .offset(depth)
        .limit(1)
    )
    if (await conn.execute(query)).first() is not None:
        raise CursorExpired(
            f"The cursor is more than {depth} events behind: subscribe again from HEAD",
            argument="after",
        )
