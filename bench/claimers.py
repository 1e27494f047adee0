"""Claim throughput: jobql's `claimJobs` over HTTP beside the same SKIP LOCKED claim in raw SQL.

Both run `claimers` concurrent loops that each claim batches of `batch` for `seconds`; a claim is
one job moved to IN_PROGRESS with its lease. The raw claimer is the lower bound of the same
work with asyncpg: one transaction per batch that locks the queue rows it picks (FOR UPDATE
SKIP LOCKED), marks them CLAIMED with a lease, moves their jobs to IN_PROGRESS and records the
event, in one statement.
"""

from __future__ import annotations

import asyncio
import secrets
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import asyncpg  # type: ignore[import-untyped]
import httpx
import orjson

from bench.data import ORG
from bench.processes import backend_cpu, spent
from bench.queue_data import CLAIMS

CLAIM = """
mutation($input: ClaimJobsInput!) {
  claimJobs(input: $input) {
    leases { leaseToken attempt leaseExpiresAt job { id dataType data tlp parameters } }
  }
}
"""


@dataclass
class Run:
    jobs: int = 0
    calls: int = 0
    errors: int = 0
    seconds: float = 0.0
    latencies: list[float] | None = None
    db_cpu: float | None = None  # PostgreSQL CPU seconds, when the run measured its own


async def _loop(
    once: Callable[[], Awaitable[int]], run: Run, until: float, latencies: list[float]
) -> None:
    while time.monotonic() < until:
        started = time.perf_counter()
        try:
            got = await once()
        except Exception:  # counted: a failed claim is a result too
            run.errors += 1
            continue
        latencies.append(time.perf_counter() - started)
        run.calls += 1
        run.jobs += got
        if got == 0:
            return  # the queue is empty: stop rather than spin


async def _drive(loops: list[Callable[[], Awaitable[int]]], seconds: float) -> Run:
    run, latencies = Run(), list[float]()
    started = time.monotonic()
    until = started + seconds
    await asyncio.gather(*(_loop(once, run, until, latencies) for once in loops))
    run.seconds = time.monotonic() - started
    run.latencies = latencies
    return run


async def http(url: str, key: str, claimers: int, batch: int, seconds: float) -> Run:
    headers = {"authorization": f"Bearer {key}", "content-type": "application/json"}
    limits = httpx.Limits(max_connections=claimers)
    async with httpx.AsyncClient(base_url=url, headers=headers, limits=limits) as client:

        def claimer(n: int) -> Callable[[], Awaitable[int]]:
            body = orjson.dumps(
                {
                    "query": CLAIM,
                    "variables": {
                        "input": {"workerId": f"bench-{n}", "analyzerIds": [CLAIMS], "max": batch}
                    },
                }
            )

            async def once() -> int:
                response = await client.post("/graphql", content=body, timeout=30)
                answer = orjson.loads(response.content)
                if response.status_code != 200 or answer.get("errors"):
                    raise RuntimeError(answer)
                return len(answer["data"]["claimJobs"]["leases"])

            return once

        return await _drive([claimer(n) for n in range(claimers)], seconds)


RAW_CLAIM = """
WITH picked AS (
    SELECT job_id FROM job_queue
    WHERE organization_id = $1 AND analyzer_id = $2 AND state = 'QUEUED' AND available_at <= now()
    ORDER BY priority DESC, enqueued_at, job_id
    LIMIT $3 FOR UPDATE SKIP LOCKED
), leased AS (
    UPDATE job_queue q SET state = 'CLAIMED', worker_id = $4, lease_token = $5,
        lease_seconds = 60, lease_expires_at = now() + interval '60 seconds',
        last_heartbeat_at = now(), deadline = now() + interval '3600 seconds'
    FROM picked WHERE q.job_id = picked.job_id
    RETURNING q.job_id
), started AS (
    UPDATE job j SET status = 'IN_PROGRESS', start_date = now(), updated_at = now(),
        updated_by = $4, attempt = j.attempt + 1, lease_token = $5
    FROM leased WHERE j.id = leased.job_id AND j.status = 'WAITING'
    RETURNING j.*
), events AS (
    INSERT INTO job_event (job_id, at, status, previous_status, actor, attempt)
    SELECT id, now(), 'IN_PROGRESS', 'WAITING', $4, attempt FROM started
)
SELECT id, data_type, data, tlp, parameters, attempt FROM started
"""


async def raw(dsn: str, database: str, claimers: int, batch: int, seconds: float) -> Run:
    pool = await asyncpg.create_pool(dsn, min_size=claimers, max_size=claimers)
    before = backend_cpu(database)
    try:

        def claimer(n: int) -> Callable[[], Awaitable[int]]:
            async def once() -> int:
                async with pool.acquire() as conn:
                    token = secrets.token_hex(16)
                    rows = await conn.fetch(RAW_CLAIM, ORG, CLAIMS, batch, f"raw-{n}", token)
                return len(rows)

            return once

        run = await _drive([claimer(n) for n in range(claimers)], seconds)
        # Read before the pool closes: its backends' CPU goes with them.
        run.db_cpu = spent(before, backend_cpu(database))
        return run
    finally:
        await pool.close()
