"""What a worker does with a lease: heartbeat it, complete, fail or release its job.

Every worker write presents the lease (job id + token) and is a compare-and-set on it: a
worker whose lease was lost (expired, or superseded by a newer claim) writes nothing and hears
LEASE_LOST; one whose job was cancelled hears CONFLICT with the job's status. Execution is at
least once; the stored outcome is exactly once: completing twice with one lease answers the
job as the first completion left it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any

from sqlalchemy import Row, select, tuple_, update
from sqlalchemy.ext.asyncio import AsyncConnection

from app.db.engine import Database
from app.db.models import job_queue, jobs, workers
from app.errors import Conflict
from app.services import lifecycle
from app.services.jobs import JobStatus
from app.services.lifecycle import Action, Change, ReportData
from app.services.queue import CLAIMED, QUEUED

LEASE_LOST = "LEASE_LOST"
# The outcomes a worker writes: a repeat with the same lease finds the job already there.
REPORTED = frozenset({JobStatus.SUCCESS, JobStatus.FAILURE})
STOPPED = frozenset({JobStatus.CANCELLED, JobStatus.DELETED})
MAX_RETRY_BACKOFF_SECONDS = 300


class LeaseState(StrEnum):
    HELD = "HELD"
    CANCELLED = "CANCELLED"
    LOST = "LOST"


@dataclass(frozen=True, slots=True)
class LeaseRef:
    job_id: str
    token: str


@dataclass(frozen=True, slots=True)
class LeaseStatus:
    job_id: str
    state: LeaseState
    expires_at: datetime | None = None


async def heartbeat(
    db: Database, *, organization: str, leases: Sequence[LeaseRef]
) -> list[LeaseStatus]:
    """Extends each held lease by its length; says CANCELLED for a job stopped meanwhile and
    LOST for a lease that expired or was superseded. Answers in the order asked."""
    now = datetime.now(UTC)
    pairs = list({(ref.job_id, ref.token) for ref in leases})
    async with db.write() as conn:
        rows = await _queue_rows(conn, organization, pairs)
        held = [r for r in rows if not r.cancel_requested and r.lease_expires_at > now]
        renewed = await _renew(conn, held, now)
        await _touch_workers(conn, organization, {r.worker_id for r in held}, now)
    states = {}
    for row in rows:
        if row.job_id in renewed:
            states[row.job_id] = LeaseStatus(row.job_id, LeaseState.HELD, renewed[row.job_id])
        elif row.cancel_requested:
            states[row.job_id] = LeaseStatus(row.job_id, LeaseState.CANCELLED)
    lost = LeaseState.LOST
    return [states.get(ref.job_id) or LeaseStatus(ref.job_id, lost) for ref in leases]


async def _queue_rows(
    conn: AsyncConnection, organization: str, pairs: list[tuple[str, str]]
) -> list[Row[Any]]:
    query = select(*job_queue.c).where(
        job_queue.c.organization_id == organization,
        job_queue.c.state == CLAIMED,
        tuple_(job_queue.c.job_id, job_queue.c.lease_token).in_(pairs),
    )
    return list(await conn.execute(query))


async def _renew(conn: AsyncConnection, held: list[Row[Any]], now: datetime) -> dict[str, datetime]:
    """New expiry per job; the guard repeats the read's, so a lease the sweeper took between
    the two statements (another process, on PostgreSQL) is not renewed."""
    renewed: dict[str, datetime] = {}
    tokens = {r.job_id: r.lease_token for r in held}
    for seconds in {r.lease_seconds for r in held}:
        ids = [r.job_id for r in held if r.lease_seconds == seconds]
        expires = now + timedelta(seconds=seconds)
        statement = (
            update(job_queue)
            .where(
                job_queue.c.job_id.in_(ids),
                job_queue.c.state == CLAIMED,
                job_queue.c.lease_expires_at > now,
                job_queue.c.cancel_requested.is_(False),
            )
            .values(lease_expires_at=expires, last_heartbeat_at=now)
            .returning(job_queue.c.job_id, job_queue.c.lease_token)
        )
        for row in await conn.execute(statement):
            if tokens[row.job_id] == row.lease_token:
                renewed[row.job_id] = expires
    return renewed


async def _touch_workers(
    conn: AsyncConnection, organization: str, ids: set[str], now: datetime
) -> None:
    if ids:
        where = (workers.c.organization_id == organization) & workers.c.id.in_(sorted(ids))
        await conn.execute(update(workers).where(where).values(last_seen_at=now))


async def complete(
    db: Database, *, organization: str, actor: str, lease: LeaseRef, report: ReportData
) -> Row[Any]:
    """SUCCESS with the report (taxonomies, full, artifacts), in one transaction."""
    action = Action.SUCCEED if report.success else Action.FAIL
    return await _report(db, organization, actor, lease, action, report)


async def fail(
    db: Database,
    *,
    organization: str,
    actor: str,
    lease: LeaseRef,
    error_message: str,
    retryable: bool = False,
) -> Row[Any]:
    """FAILURE with the error; back to the queue instead when retryable with attempts left."""
    report = ReportData(success=False, error_message=error_message)
    async with db.write() as conn:
        job = await _fenced(conn, organization, lease)
        if job.status in REPORTED:
            return job
        if retryable and job.attempt < job.max_attempts:
            backoff = min(2 ** (job.attempt - 1) * 5, MAX_RETRY_BACKOFF_SECONDS)
            change = Change(organization, job.id, actor, error_message)
            return await requeue(conn, Action.RETRY, change, delay_seconds=backoff)
        return await _finish(conn, organization, actor, job, Action.FAIL, report)


async def release(db: Database, *, organization: str, actor: str, lease: LeaseRef) -> Row[Any]:
    """Gives the job back to the queue (the worker is shutting down); no attempt is spent."""
    async with db.write() as conn:
        job = await _fenced(conn, organization, lease)
        if job.status in REPORTED:
            return job
        change = Change(organization, job.id, actor, "released by its worker")
        return await requeue(conn, Action.RELEASE, change, refund=True)


async def _report(
    db: Database,
    organization: str,
    actor: str,
    lease: LeaseRef,
    action: Action,
    report: ReportData,
) -> Row[Any]:
    async with db.write() as conn:
        job = await _fenced(conn, organization, lease)
        if job.status in REPORTED:
            return job
        return await _finish(conn, organization, actor, job, action, report)


async def _finish(
    conn: AsyncConnection,
    organization: str,
    actor: str,
    job: Row[Any],
    action: Action,
    report: ReportData,
) -> Row[Any]:
    change = Change(organization, job.id, actor, report.error_message)
    writer, values = lifecycle.report_writer(report), lifecycle.report_values(report)
    return await lifecycle.apply(conn, action, change, extra=writer, current=job, job_values=values)


async def _fenced(conn: AsyncConnection, organization: str, lease: LeaseRef) -> Row[Any]:
    """The job, if this lease may still write to it; a job already reported under this very
    lease is answered as it is. Otherwise CONFLICT: LEASE_LOST, or the stopped job's status."""
    queued = await lifecycle.lock_queue_row(conn, lease.job_id)
    change = Change(organization, lease.job_id, "")
    job = await lifecycle.find_job(conn, change, lock=conn.dialect.name == "postgresql")
    if job.lease_token != lease.token:
        raise _lost("This lease was superseded: another attempt holds the job now")
    if job.status in REPORTED:
        return job
    if job.status in STOPPED:
        if queued is not None:
            await conn.execute(job_queue.delete().where(job_queue.c.job_id == job.id))
        raise Conflict(
            f"The job was {job.status.lower()}: stop, and report nothing",
            status=job.status,
            reason=job.status,
        )
    now = datetime.now(UTC)
    if (
        job.status != JobStatus.IN_PROGRESS
        or queued is None
        or queued.lease_token != lease.token
        or queued.lease_expires_at <= now
    ):
        raise _lost("This lease expired: the job was requeued or timed out")
    return job


def _lost(message: str) -> Conflict:
    return Conflict(message, reason=LEASE_LOST)


async def requeue(
    conn: AsyncConnection,
    action: Action,
    change: Change,
    *,
    delay_seconds: float = 0,
    refund: bool = False,
) -> Row[Any]:
    """IN_PROGRESS → WAITING with its event, and the queue row QUEUED again (after a delay:
    RETRY_BACKOFF); `refund` gives the attempt back (a release spends none)."""
    moved = await lifecycle.apply(conn, action, change)
    now = datetime.now(UTC)
    if refund:
        refunded = (
            update(jobs)
            .where(jobs.c.id == moved.id)
            .values(attempt=jobs.c.attempt - 1)
            .returning(*jobs.c)
        )
        moved = (await conn.execute(refunded)).one()
    await conn.execute(
        update(job_queue)
        .where(job_queue.c.job_id == moved.id)
        .values(
            state=QUEUED,
            available_at=now + timedelta(seconds=delay_seconds),
            worker_id=None,
            lease_token=None,
            lease_seconds=None,
            lease_expires_at=None,
            last_heartbeat_at=None,
            deadline=None,
            cancel_requested=False,
        )
    )
    return moved
