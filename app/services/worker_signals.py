"""What a worker hears live (Subscription.workerControl): CANCEL when a job it holds is
cancelled or deleted, JOBS_AVAILABLE when work arrives for one of its analyzers. Both come
from the job event log through the hub; a signal lost only delays the worker, whose
heartbeat (CANCELLED) and claim loop still find the same facts."""

from __future__ import annotations

import time
from collections.abc import AsyncGenerator
from dataclasses import dataclass

from sqlalchemy import select

from app.db.engine import Database
from app.db.models import job_queue, workers
from app.services.eventlog import Entry, LogFilter
from app.services.live import Hub

STOPPED = frozenset({"CANCELLED", "DELETED"})
# JOBS_AVAILABLE for one analyzer at most this often: a burst of submissions is one signal.
AVAILABLE_EVERY_SECONDS = 0.1


@dataclass(frozen=True, slots=True)
class Signal:
    kind: str  # CANCEL | JOBS_AVAILABLE
    job_id: str | None = None
    analyzer_id: str | None = None


async def _analyzers_of(db: Database, organization: str, worker_id: str) -> set[str] | None:
    """The analyzers the worker claimed for last; None before its first claim (then any)."""
    query = select(workers.c.analyzer_ids).where(
        workers.c.organization_id == organization, workers.c.id == worker_id
    )
    async with db.read() as conn:
        found = (await conn.execute(query)).scalar_one_or_none()
    return set(found) if found is not None else None


async def _holds(db: Database, worker_id: str, job_id: str) -> bool:
    query = select(job_queue.c.job_id).where(
        job_queue.c.job_id == job_id, job_queue.c.worker_id == worker_id
    )
    async with db.read() as conn:
        return (await conn.execute(query)).first() is not None


async def signals(
    hub: Hub, organization: str, worker_id: str, *, key: str
) -> AsyncGenerator[Signal, None]:
    db = hub.db
    analyzers = await _analyzers_of(db, organization, worker_id)
    last_available: dict[str, float] = {}
    async for entry in hub.stream(LogFilter(organization), None, key=key):
        signal = await _signal(db, entry, worker_id, analyzers)
        if signal is None:
            continue
        if signal.kind == "JOBS_AVAILABLE":
            analyzers = await _analyzers_of(db, organization, worker_id)
            now = time.monotonic()
            if now - last_available.get(entry.job.analyzer_id, 0.0) < AVAILABLE_EVERY_SECONDS:
                continue
            last_available[entry.job.analyzer_id] = now
        yield signal


async def _signal(
    db: Database, entry: Entry, worker_id: str, analyzers: set[str] | None
) -> Signal | None:
    event, job = entry.event, entry.job
    if event.status in STOPPED and event.previous_status == "IN_PROGRESS":
        # The queue row of a stopped, claimed job stays, flagged, until its worker answers.
        if await _holds(db, worker_id, job.id):
            return Signal("CANCEL", job_id=job.id, analyzer_id=job.analyzer_id)
        return None
    if event.status == "WAITING" and (analyzers is None or job.analyzer_id in analyzers):
        return Signal("JOBS_AVAILABLE", job_id=job.id, analyzer_id=job.analyzer_id)
    return None
