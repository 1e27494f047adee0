"""The sweeper: leases that ran out, jobs past their deadline, jobStats' pending counts (folded
into the rollup), and old bookkeeping rows.

Every server process runs it (app/main.py); on PostgreSQL processes share the work through
FOR UPDATE SKIP LOCKED, so each expired lease is handled once. A lease that expired sends its
job back to the queue while attempts are left, else ends it TIMEOUT; a job past its
analyzer's `timeoutSeconds` ends TIMEOUT whatever its attempts.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Row, delete, or_, select
from sqlalchemy.ext.asyncio import AsyncConnection

from app.blobs import BlobStore
from app.db.engine import Database
from app.db.models import idempotency_keys, job_queue, queue_starts
from app.services import lifecycle, rollup
from app.services.jobs import JobStatus
from app.services.leases import requeue
from app.services.lifecycle import Action, Change, ReportData
from app.services.queue import CLAIMED, RATE_UNIT_SECONDS

log = logging.getLogger("jobql.sweeper")
ACTOR = "jobql-sweeper"
BATCH = 100
IDEMPOTENCY_HOURS = 24
# A staging file untouched this long belongs to an upload whose process died: uploads write at
# least once per request timeout, and none is that slow.
ABANDONED_UPLOAD_SECONDS = 3600


@dataclass(frozen=True, slots=True)
class Swept:
    requeued: int = 0
    timed_out: int = 0
    dropped: int = 0  # rows of jobs stopped while claimed, whose worker never answered


async def sweep(db: Database, now: datetime | None = None) -> Swept:
    """One pass over the claims that ran out by `now`; returns what it did."""
    now = now or datetime.now(UTC)
    counts = {"requeued": 0, "timed_out": 0, "dropped": 0}
    async with db.write() as conn:
        for row in await _expired(conn, now):
            counts[await _settle(conn, row, now)] += 1
    return Swept(**counts)


async def _expired(conn: AsyncConnection, now: datetime) -> list[Row[Any]]:
    query = (
        select(job_queue.c.job_id, job_queue.c.organization_id, job_queue.c.deadline)
        .where(
            job_queue.c.state == CLAIMED,
            or_(job_queue.c.lease_expires_at < now, job_queue.c.deadline < now),
        )
        .order_by(job_queue.c.lease_expires_at)
        .limit(BATCH)
    )
    if conn.dialect.name == "postgresql":
        query = query.with_for_update(skip_locked=True)
    return list(await conn.execute(query))


async def _settle(conn: AsyncConnection, row: Row[Any], now: datetime) -> str:
    change = Change(row.organization_id, row.job_id, ACTOR)
    job = await lifecycle.find_job(conn, change, lock=conn.dialect.name == "postgresql")
    if job.status != JobStatus.IN_PROGRESS:
        await conn.execute(delete(job_queue).where(job_queue.c.job_id == row.job_id))
        return "dropped"
    past_deadline = row.deadline is not None and row.deadline < now
    if not past_deadline and job.attempt < job.max_attempts:
        message = f"lease expired (attempt {job.attempt} of {job.max_attempts}): queued again"
        await requeue(conn, Action.REQUEUE, Change(row.organization_id, job.id, ACTOR, message))
        return "requeued"
    error = (
        "Timeout: the analyzer ran longer than its timeoutSeconds"
        if past_deadline
        else "Timeout: the worker stopped heartbeating and no attempt is left"
    )
    report = ReportData(success=False, error_message=error)
    timed_out = Change(row.organization_id, job.id, ACTOR, error)
    await lifecycle.apply(conn, Action.TIME_OUT, timed_out, extra=lifecycle.report_writer(report))
    return "timed_out"


async def forget_old(db: Database, now: datetime | None = None) -> None:
    """Idempotency keys past their 24 hours, and rate-window starts older than any window."""
    now = now or datetime.now(UTC)
    oldest_window = timedelta(seconds=max(RATE_UNIT_SECONDS.values()))
    async with db.write() as conn:
        expired = idempotency_keys.c.created_at < now - timedelta(hours=IDEMPOTENCY_HOURS)
        await conn.execute(delete(idempotency_keys).where(expired))
        await conn.execute(delete(queue_starts).where(queue_starts.c.at < now - oldest_window))


async def run_forever(db: Database, blobs: BlobStore, interval_seconds: float) -> None:
    """The process's sweeper loop; errors are logged and the loop goes on."""
    rounds = 0
    while True:
        try:
            swept = await sweep(db)
            await rollup.fold(db)  # jobStats' pending counts, on PostgreSQL
            if swept.requeued or swept.timed_out or swept.dropped:
                log.info("sweeper: %s", swept)
            rounds += 1
            if rounds % max(1, int(300 / interval_seconds)) == 1:
                await forget_old(db)
                if removed := await asyncio.to_thread(
                    blobs.forget_abandoned, ABANDONED_UPLOAD_SECONDS
                ):
                    log.info("sweeper: removed %d abandoned upload files", removed)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("sweeper round failed; retrying")
        await asyncio.sleep(interval_seconds)
