"""The job queue: claims with leases, limits enforced at claim time, and the queue's rules.

A WAITING job has a QUEUED row in `job_queue`; a claim turns up to `max` of them CLAIMED, each
with a lease token that is new and never reused, and moves their jobs to IN_PROGRESS, in one
transaction. Exactly one claimer gets a job: PostgreSQL locks the rows it picks (FOR UPDATE
SKIP LOCKED, so claimers pass each other by instead of queueing) and then updates exactly the
ids it picked; SQLite has a single writer (BEGIN IMMEDIATE). Limits (`rate` per `rateUnit`,
`maxConcurrent`) are counted fleet-wide under a lock on the analyzer's row, so two processes
never both take the last slot; analyzers without limits take no such lock.
"""

from __future__ import annotations

import asyncio
import secrets
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import Any

from sqlalchemy import (
    Integer,
    Row,
    Select,
    bindparam,
    case,
    delete,
    func,
    insert,
    literal,
    select,
    union_all,
    update,
)
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncConnection

from app.db.engine import Database
from app.db.lists import any_of
from app.db.models import analyzers, job_events, job_queue, jobs, queue_starts, workers
from app.db.types import UTCDateTime
from app.errors import BadUserInput
from app.metrics import CLAIMS
from app.services.jobs import JobStatus
from app.services.lifecycle import event_of, mark_events_written, record_events

QUEUED, CLAIMED = "QUEUED", "CLAIMED"
PRIORITY_RANK: Mapping[str, int] = {"LOW": 0, "NORMAL": 1, "HIGH": 2, "URGENT": 3}
RATE_UNIT_SECONDS: Mapping[str, int] = {
    "SECOND": 1,
    "MINUTE": 60,
    "HOUR": 3600,
    "DAY": 86400,
    "MONTH": 30 * 86400,  # Cortex's month
}
MAX_CLAIM = 100
MAX_CLAIM_ANALYZERS = 100
MAX_WAIT_SECONDS = 8
MIN_LEASE_SECONDS, MAX_LEASE_SECONDS = 1, 3600
# Between two looks at the queue while a claim long-polls: a submission in this process
# wakes it at once (Wakeup); one in another process is seen within this.
POLL_SECONDS = 0.25


class Wakeup:
    """Wakes long-polling claims of this process when jobs were queued here."""

    def __init__(self) -> None:
        self._event = asyncio.Event()

    def notify(self) -> None:
        self._event.set()
        self._event = asyncio.Event()

    async def wait(self, seconds: float) -> None:
        try:
            await asyncio.wait_for(self._event.wait(), seconds)
        except TimeoutError:
            pass


@dataclass(frozen=True, slots=True)
class ClaimRequest:
    organization: str
    login: str
    worker_id: str
    analyzer_ids: Sequence[str]
    max_jobs: int = 1
    wait_seconds: float = 0
    lease_seconds: int = 60


@dataclass(frozen=True, slots=True)
class Lease:
    job: Row[Any]
    token: str
    attempt: int
    expires_at: datetime
    deadline: datetime


@dataclass(frozen=True, slots=True)
class Claimed:
    leases: Sequence[Lease]
    retry_after_seconds: int | None = None  # set when limits held queued work back


@dataclass(frozen=True, slots=True)
class _Limits:
    """One analyzer as a claim sees it: how many of its jobs this claim may take, whether a
    limit (not the claim's `max`) set that, and when the limit lifts (seconds; None: when
    one of its running jobs ends)."""

    analyzer_id: str
    cap: int
    timeout_seconds: int
    rate_limited: bool
    held: bool = False
    lifts_in: float | None = None


def check_claim(request: ClaimRequest) -> None:
    """BadUserInput for a claim asked for out of bounds."""
    if not request.worker_id or len(request.worker_id) > 200:
        raise BadUserInput("workerId: 1 to 200 characters", argument="input.workerId")
    if not request.analyzer_ids or len(request.analyzer_ids) > MAX_CLAIM_ANALYZERS:
        message = f"analyzerIds: 1 to {MAX_CLAIM_ANALYZERS} analyzer ids"
        raise BadUserInput(message, argument="input.analyzerIds")
    if not 1 <= request.max_jobs <= MAX_CLAIM:
        raise BadUserInput(f"max: 1 to {MAX_CLAIM}", argument="input.max")
    if not 0 <= request.wait_seconds <= MAX_WAIT_SECONDS:
        raise BadUserInput(f"waitSeconds: 0 to {MAX_WAIT_SECONDS}", argument="input.waitSeconds")
    if not MIN_LEASE_SECONDS <= request.lease_seconds <= MAX_LEASE_SECONDS:
        message = f"leaseSeconds: {MIN_LEASE_SECONDS} to {MAX_LEASE_SECONDS}"
        raise BadUserInput(message, argument="input.leaseSeconds")


async def claim(db: Database, request: ClaimRequest, wakeup: Wakeup | None = None) -> Claimed:
    """Up to `max_jobs` leases on the organization's queued jobs of these analyzers, URGENT
    first, then oldest first; long-polls up to `wait_seconds` while there is none."""
    check_claim(request)
    give_up = time.monotonic() + request.wait_seconds
    while True:
        claimed = await _claim_once(db, request)
        left = give_up - time.monotonic()
        if claimed.leases or left <= 0:
            return claimed
        pause = min(left, POLL_SECONDS, claimed.retry_after_seconds or POLL_SECONDS)
        if wakeup is None:
            await asyncio.sleep(pause)
        else:
            await wakeup.wait(pause)


async def _claim_once(db: Database, request: ClaimRequest) -> Claimed:
    now = datetime.now(UTC)
    found = None
    if db.dialect == "postgresql":
        async with db.read() as conn:
            found = await _analyzers(conn, request)
        if not any(row.rate or row.max_concurrent for row in found):
            return Claimed(await _claim_in_one(db, request, found, now))
    async with db.write() as conn:
        found = found or await _analyzers(conn, request)
        limits = await _limits(conn, request, found, now)
        picked = await _pick(conn, request, limits, now)
        leases = await _lease(conn, request, limits, picked, now) if picked else []
        await _seen(conn, request, now)
        taken = [lease.job.analyzer_id for lease in leases]
        held = [
            limit for limit in limits if limit.held and taken.count(limit.analyzer_id) >= limit.cap
        ]
        held = await _with_work_left(conn, request, held, now) if held else []
    _count(leases)
    lifts = [limit.lifts_in or 1.0 for limit in held]
    retry = max(1, int(min(lifts) + 0.999)) if lifts else None
    return Claimed(leases, retry)


def _count(leases: Sequence[Lease]) -> None:
    for lease in leases:  # counted once committed
        CLAIMS.labels(lease.job.analyzer_id).inc()


async def _claim_in_one(
    db: Database, request: ClaimRequest, found: list[Row[Any]], now: datetime
) -> list[Lease]:
    """PostgreSQL, analyzers without limits: pick, lease, start, log and note the worker in
    one statement (data-modifying CTEs), atomic on its own, so outside any transaction."""
    token = secrets.token_hex(16)  # one per claim: with the job id, never seen before
    expires = now + timedelta(seconds=request.lease_seconds)
    deadlines = {row.id: now + timedelta(seconds=row.timeout_seconds) for row in found}
    parameters: dict[str, Any] = {
        "org": request.organization,
        "now": now,
        "max": request.max_jobs,
        "login": request.login,
        "token": token,
        "worker": request.worker_id,
        "lease_seconds": request.lease_seconds,
        "expires": expires,
        "analyzer_list": sorted(request.analyzer_ids),
    }
    for n, (analyzer_id, deadline) in enumerate(deadlines.items()):
        parameters[f"a{n}"], parameters[f"d{n}"] = analyzer_id, deadline
    async with db.write_statement() as conn:
        rows = list(await conn.execute(_claim_statement(len(deadlines)), parameters))
        if rows:
            mark_events_written(conn)
    leases = [Lease(row, token, row.attempt, expires, deadlines[row.analyzer_id]) for row in rows]
    _count(leases)
    return leases


@lru_cache(maxsize=MAX_CLAIM_ANALYZERS)
def _claim_statement(analyzers: int) -> Select[Any]:
    """The one-statement claim over `analyzers` analyzers, built once: every value is a
    parameter (building and keying it again for each claim cost a tenth of a claim's CPU)."""
    now = bindparam("now", type_=UTCDateTime())
    chosen = _chosen(analyzers, now)
    started = (
        update(jobs)
        .where(jobs.c.id == chosen.c.job_id, jobs.c.status == JobStatus.WAITING)
        .values(_started(bindparam("login"), bindparam("token"), now))
        .returning(*jobs.c)
        .cte("started")
    )
    deadline = case(
        *(
            (job_queue.c.analyzer_id == bindparam(f"a{n}"), bindparam(f"d{n}", type_=UTCDateTime()))
            for n in range(analyzers)
        )
    )
    leased_values = _leased(
        bindparam("worker"),
        bindparam("token"),
        bindparam("lease_seconds"),
        bindparam("expires", type_=UTCDateTime()),
        now,
    )
    leased = (
        update(job_queue)
        .where(job_queue.c.job_id == started.c.id)
        .values({**leased_values, "deadline": deadline})
        .returning(job_queue.c.job_id)
        .cte("leased")
    )
    event = select(
        started.c.id,
        started.c.updated_at,
        started.c.status,
        literal(JobStatus.WAITING.value, job_events.c.previous_status.type),
        bindparam("login", type_=job_events.c.actor.type),
        started.c.attempt,
    )
    names = ["job_id", "at", "status", "previous_status", "actor", "attempt"]
    events = insert(job_events).from_select(names, event).cte("logged")
    seen = _seen_statement(
        {
            "organization_id": bindparam("org"),
            "id": bindparam("worker"),
            "login": bindparam("login"),
            "analyzer_ids": bindparam("analyzer_list", type_=workers.c.analyzer_ids.type),
            "last_seen_at": now,
        }
    )
    return (
        select(*started.c)
        .join_from(started, chosen, chosen.c.job_id == started.c.id)
        .order_by(*_in_claim_order(chosen.c))
        .add_cte(leased, events, seen.cte("seen"))
    )


def _chosen(analyzers: int, now: Any) -> Any:
    """The queued rows to claim, locked (skipping rows another claim holds): each analyzer's
    best by its own index, then the best overall. MATERIALIZED: run once, whatever the plan
    (an inlined `LIMIT … FOR UPDATE SKIP LOCKED` may be run again and lock more rows)."""
    most = bindparam("max", type_=Integer())
    picks = [
        select(job_queue.c.job_id, *_CLAIM_ORDER)
        .where(
            job_queue.c.organization_id == bindparam("org"),
            job_queue.c.analyzer_id == bindparam(f"a{n}"),
            job_queue.c.state == QUEUED,
            job_queue.c.available_at <= now,
        )
        .order_by(*_in_claim_order(job_queue.c))
        .limit(most)
        .with_for_update(skip_locked=True)
        .cte(f"picked_{n}")
        .prefix_with("MATERIALIZED")
        for n in range(analyzers)
    ]
    if len(picks) == 1:
        return picks[0]
    every = union_all(*(select(*pick.c) for pick in picks)).subquery("every")
    best = select(*every.c).order_by(*_in_claim_order(every.c)).limit(most)
    return best.cte("chosen").prefix_with("MATERIALIZED")


def _in_claim_order(columns: Any) -> list[Any]:
    """URGENT first, then the oldest; the id breaks ties."""
    return [columns.priority.desc(), columns.enqueued_at, columns.job_id]


async def _with_work_left(
    conn: AsyncConnection, request: ClaimRequest, held: list[_Limits], now: datetime
) -> list[_Limits]:
    """The limited analyzers that still have queued jobs: only those held work back."""
    query = (
        select(job_queue.c.analyzer_id)
        .where(
            job_queue.c.organization_id == request.organization,
            job_queue.c.analyzer_id.in_([limit.analyzer_id for limit in held]),
            job_queue.c.state == QUEUED,
            job_queue.c.available_at <= now,
        )
        .distinct()
    )
    waiting = set((await conn.execute(query)).scalars())
    return [limit for limit in held if limit.analyzer_id in waiting]


def _analyzer_query(request: ClaimRequest) -> Select[Any]:
    return (
        select(
            analyzers.c.id,
            analyzers.c.rate,
            analyzers.c.rate_unit,
            analyzers.c.max_concurrent,
            analyzers.c.timeout_seconds,
        )
        .where(
            analyzers.c.organization_id == request.organization,
            analyzers.c.id.in_(list(request.analyzer_ids)),
        )
        .order_by(analyzers.c.id)
    )


async def _analyzers(conn: AsyncConnection, request: ClaimRequest) -> list[Row[Any]]:
    """The claim's analyzers with their limits; BAD_USER_INPUT names those not found."""
    found: list[Row[Any]] = list(await conn.execute(_analyzer_query(request)))
    unknown = set(request.analyzer_ids) - {row.id for row in found}
    if unknown:
        # Another organization's analyzer is answered exactly like an absent one.
        message = f"No such analyzer: {', '.join(sorted(unknown))}"
        raise BadUserInput(message, argument="input.analyzerIds")
    return found


async def _limits(
    conn: AsyncConnection, request: ClaimRequest, found: list[Row[Any]], now: datetime
) -> list[_Limits]:
    """Each analyzer's cap for this claim; the limited ones locked until commit (PostgreSQL),
    so no other claim counts their starts and running jobs meanwhile."""
    limited = [row.id for row in found if row.rate or row.max_concurrent]
    if limited and conn.dialect.name == "postgresql":
        # Read again under the lock: the limits as they are now, not as read before it.
        lock = _analyzer_query(request).where(analyzers.c.id.in_(limited)).with_for_update()
        fresh = {row.id: row for row in await conn.execute(lock)}
        found = [fresh.get(row.id, row) for row in found]
    running = await _running(conn, [r.id for r in found if r.max_concurrent])
    return [await _limit_of(conn, row, request.max_jobs, running, now) for row in found]


async def _running(conn: AsyncConnection, analyzer_ids: list[str]) -> dict[str, int]:
    if not analyzer_ids:
        return {}
    query = (
        select(job_queue.c.analyzer_id, func.count())
        .where(job_queue.c.analyzer_id.in_(analyzer_ids), job_queue.c.state == CLAIMED)
        .group_by(job_queue.c.analyzer_id)
    )
    return {row[0]: row[1] for row in await conn.execute(query)}


async def _limit_of(
    conn: AsyncConnection, row: Row[Any], wanted: int, running: dict[str, int], now: datetime
) -> _Limits:
    cap, lifts_in = wanted, None
    if row.max_concurrent:
        cap = min(cap, max(0, row.max_concurrent - running.get(row.id, 0)))
    if row.rate and row.rate_unit:
        unit = timedelta(seconds=RATE_UNIT_SECONDS[row.rate_unit])
        # A start older than the window no longer counts: drop it, the table stays small.
        mine = queue_starts.c.analyzer_id == row.id
        await conn.execute(delete(queue_starts).where(mine, queue_starts.c.at <= now - unit))
        counted = select(func.count(), func.min(queue_starts.c.at)).where(mine)
        starts, oldest = (await conn.execute(counted)).one()
        if starts + cap >= row.rate:  # this claim may use up the window: it lifts then
            lifts_in = ((oldest or now) + unit - now).total_seconds()
        cap = min(cap, max(0, row.rate - starts))
    return _Limits(row.id, cap, row.timeout_seconds, bool(row.rate), cap < wanted, lifts_in)


async def _pick(
    conn: AsyncConnection, request: ClaimRequest, limits: list[_Limits], now: datetime
) -> list[Row[Any]]:
    """The queued rows to claim: each analyzer's best up to its cap, then the best overall.

    On PostgreSQL each analyzer's rows are locked as they are read and claimers skip rows
    another holds; the rows picked but not taken are free again at commit.
    """
    candidates: list[Row[Any]] = []
    for limit in limits:
        if limit.cap == 0:
            continue
        query = (
            select(job_queue.c.job_id, job_queue.c.analyzer_id, *_CLAIM_ORDER)
            .where(
                job_queue.c.organization_id == request.organization,
                job_queue.c.analyzer_id == limit.analyzer_id,
                job_queue.c.state == QUEUED,
                job_queue.c.available_at <= now,
            )
            .order_by(job_queue.c.priority.desc(), job_queue.c.enqueued_at, job_queue.c.job_id)
            .limit(limit.cap)
        )
        if conn.dialect.name == "postgresql":
            query = query.with_for_update(skip_locked=True)
        candidates.extend(await conn.execute(query))
    candidates.sort(key=lambda r: (-r.priority, r.enqueued_at, r.job_id))
    return candidates[: request.max_jobs]


_CLAIM_ORDER = (job_queue.c.priority, job_queue.c.enqueued_at)


async def _lease(
    conn: AsyncConnection,
    request: ClaimRequest,
    limits: list[_Limits],
    picked: list[Row[Any]],
    now: datetime,
) -> list[Lease]:
    token = secrets.token_hex(16)  # one per claim: with the job id, never seen before
    expires = now + timedelta(seconds=request.lease_seconds)
    by_analyzer = {limit.analyzer_id: limit for limit in limits}
    ids = [row.job_id for row in picked]
    started = await _start_jobs(conn, request, ids, token, now)
    leases = []
    for analyzer_id in {row.analyzer_id for row in started}:
        deadline = now + timedelta(seconds=by_analyzer[analyzer_id].timeout_seconds)
        mine = [row.id for row in started if row.analyzer_id == analyzer_id]
        await conn.execute(
            update(job_queue)
            .where(any_of(conn.dialect.name, job_queue.c.job_id, mine))
            .values(
                {
                    **_leased(request.worker_id, token, request.lease_seconds, expires, now),
                    "deadline": deadline,
                }
            )
        )
        leases += [
            Lease(row, token, row.attempt, expires, deadline)
            for row in started
            if row.analyzer_id == analyzer_id
        ]
    rated = [row.analyzer_id for row in started if by_analyzer[row.analyzer_id].rate_limited]
    if rated:
        await conn.execute(queue_starts.insert(), [{"analyzer_id": a, "at": now} for a in rated])
    order = {job_id: i for i, job_id in enumerate(ids)}
    return sorted(leases, key=lambda lease: order[lease.job.id])


async def _start_jobs(
    conn: AsyncConnection, request: ClaimRequest, ids: list[str], token: str, now: datetime
) -> list[Row[Any]]:
    """WAITING → IN_PROGRESS for the picked jobs, each with its event, in one statement each."""
    moved = list(
        await conn.execute(
            update(jobs)
            .where(any_of(conn.dialect.name, jobs.c.id, ids), jobs.c.status == JobStatus.WAITING)
            .values(_started(request.login, token, now))
            .returning(*jobs.c)
        )
    )
    await record_events(
        conn, [event_of(job, JobStatus.WAITING, request.login, None) for job in moved]
    )
    return moved


def _started(login: Any, token: Any, now: Any) -> dict[str, Any]:
    """A claimed job's new values: WAITING → IN_PROGRESS, one attempt more."""
    return {
        "status": JobStatus.IN_PROGRESS.value,
        "start_date": now,
        "updated_at": now,
        "updated_by": login,
        "attempt": jobs.c.attempt + 1,
        "lease_token": token,
    }


def _leased(
    worker_id: Any, token: Any, lease_seconds: Any, expires: Any, now: Any
) -> dict[str, Any]:
    """A claimed queue row's new values (its deadline depends on the analyzer)."""
    return {
        "state": CLAIMED,
        "worker_id": worker_id,
        "lease_token": token,
        "lease_seconds": lease_seconds,
        "lease_expires_at": expires,
        "last_heartbeat_at": now,
    }


async def _seen(conn: AsyncConnection, request: ClaimRequest, now: datetime) -> None:
    values = {
        "organization_id": request.organization,
        "id": request.worker_id,
        "login": request.login,
        "analyzer_ids": sorted(request.analyzer_ids),
        "last_seen_at": now,
    }
    await conn.execute(_seen_statement(values, conn.dialect.name))


def _seen_statement(values: Mapping[str, Any], dialect: str = "postgresql") -> Any:
    """The worker as last seen, for `Query.workers`."""
    upsert = pg_insert if dialect == "postgresql" else sqlite_insert
    statement = upsert(workers).values(dict(values))
    changed = {k: statement.excluded[k] for k in ("login", "analyzer_ids", "last_seen_at")}
    return statement.on_conflict_do_update(index_elements=["organization_id", "id"], set_=changed)
