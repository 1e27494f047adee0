"""What the queue looks like to people: each active job's place and why it waits, workers."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Row, func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from app.db.engine import Database
from app.db.lists import any_of
from app.db.models import analyzers, job_queue, queue_starts, workers
from app.services.queue import CLAIMED, QUEUED, RATE_UNIT_SECONDS


@dataclass(frozen=True, slots=True)
class QueueView:
    row: Row[Any]
    reason: str | None  # RATE_LIMITED | CONCURRENCY_LIMITED | RETRY_BACKOFF | None


async def queue_views(
    db: Database, organization: str, job_ids: Sequence[str]
) -> dict[str, QueueView]:
    """Each job's queue row, with the reason a QUEUED one is held back, if any."""
    query = (
        select(*job_queue.c, analyzers.c.rate, analyzers.c.rate_unit, analyzers.c.max_concurrent)
        .outerjoin(analyzers, analyzers.c.id == job_queue.c.analyzer_id)
        .where(
            job_queue.c.organization_id == organization,
            any_of(db.dialect, job_queue.c.job_id, job_ids),
        )
    )
    async with db.read() as conn:
        rows: list[Row[Any]] = list(await conn.execute(query))
        held = await _held_analyzers(conn, [r for r in rows if r.state == QUEUED])
    now = datetime.now(UTC)
    return {row.job_id: QueueView(row, _reason(row, held, now)) for row in rows}


def _reason(row: Row[Any], held: dict[str, str], now: datetime) -> str | None:
    if row.state != QUEUED:
        return None
    if row.available_at > now:
        return "RETRY_BACKOFF"
    return held.get(row.analyzer_id)


async def _held_analyzers(conn: AsyncConnection, queued: list[Row[Any]]) -> dict[str, str]:
    """The analyzers whose limit holds their queued jobs back now, and which limit."""
    limited = {r.analyzer_id: r for r in queued if r.rate or r.max_concurrent}
    if not limited:
        return {}
    running_query = (
        select(job_queue.c.analyzer_id, func.count())
        .where(job_queue.c.analyzer_id.in_(list(limited)), job_queue.c.state == CLAIMED)
        .group_by(job_queue.c.analyzer_id)
    )
    running = {a: n for a, n in await conn.execute(running_query)}
    held = {}
    now = datetime.now(UTC)
    for analyzer_id, row in limited.items():
        if row.max_concurrent and running.get(analyzer_id, 0) >= row.max_concurrent:
            held[analyzer_id] = "CONCURRENCY_LIMITED"
        elif row.rate and row.rate_unit:
            since = now - timedelta(seconds=RATE_UNIT_SECONDS[row.rate_unit])
            starts = await conn.scalar(
                select(func.count()).where(
                    queue_starts.c.analyzer_id == analyzer_id, queue_starts.c.at > since
                )
            )
            if (starts or 0) >= row.rate:
                held[analyzer_id] = "RATE_LIMITED"
    return held


async def list_workers(db: Database, organization: str) -> list[tuple[Row[Any], int]]:
    """The organization's workers, most recently seen first, with the leases each holds."""
    leases = (
        select(job_queue.c.worker_id, func.count().label("leases"))
        .where(job_queue.c.organization_id == organization, job_queue.c.state == CLAIMED)
        .group_by(job_queue.c.worker_id)
        .subquery()
    )
    query = (
        select(*workers.c, func.coalesce(leases.c.leases, 0).label("leases"))
        .outerjoin(leases, leases.c.worker_id == workers.c.id)
        .where(workers.c.organization_id == organization)
        .order_by(workers.c.last_seen_at.desc(), workers.c.id)
    )
    async with db.read() as conn:
        rows: list[Row[Any]] = list(await conn.execute(query))
    return [(row, int(row.leases)) for row in rows]
