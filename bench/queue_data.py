"""The write bench's data on the 1M-job database: its keys, its analyzers, 100,000 queued jobs."""

from __future__ import annotations

import asyncpg  # type: ignore[import-untyped]

from bench.data import ORG, Store

CLAIMS = "bench-claims"  # 100,000 queued jobs, claimed by the claim test
FLOW = "bench-flow"  # submitted, claimed and completed by the end-to-end and submit tests
ACTOR = f"bench-write@{ORG}"
WAITING = 100_000


def key(store: Store, role: str) -> str:
    login = f"bench-{role}@{ORG}"
    return store.jobql("apikey", "create", "--org", ORG, "--login", login, "--roles", role)


async def analyzers(conn: asyncpg.Connection) -> None:
    """The bench's two analyzers in synth-a: no limits, no depth cap in the way."""
    for analyzer in (CLAIMS, FLOW):
        await conn.execute(
            """
            INSERT INTO analyzer (id, organization_id, name, definition_id, version,
                description, author, license, url, data_types, max_tlp, job_cache_minutes,
                enabled, created_at, rate, rate_unit, max_concurrent, max_attempts,
                timeout_seconds, queue_depth_cap)
            SELECT $1, organization_id, $2, definition_id, version, description, author,
                license, url, '["ip"]', 3, 10, true, now(), NULL, NULL, NULL, 3, 3600, 10000000
            FROM analyzer WHERE organization_id = $3 ORDER BY id LIMIT 1
            ON CONFLICT (id) DO NOTHING
            """,
            analyzer,
            analyzer.replace("-", "_").title(),
            ORG,
        )


async def top_up(conn: asyncpg.Connection, wanted: int = WAITING) -> int:
    """Deletes what an earlier run claimed, then queues jobs until `wanted` wait; returns how
    many were added (one INSERT … SELECT per table: a few seconds for 100,000)."""
    await conn.execute("DELETE FROM job WHERE analyzer_id = $1 AND status <> 'WAITING'", CLAIMS)
    have = await conn.fetchval(
        "SELECT count(*) FROM job_queue WHERE analyzer_id = $1 AND state = 'QUEUED'", CLAIMS
    )
    missing = max(0, wanted - have)
    if missing:
        await conn.execute(_QUEUE_JOBS, missing, CLAIMS, ACTOR)
        await conn.execute("VACUUM (ANALYZE) job_queue")
    return int(missing)


_QUEUE_JOBS = """
WITH new AS (
    INSERT INTO job (id, organization_id, analyzer_id, analyzer_name, analyzer_definition_id,
        data_type, status, data, parameters, message, tlp, pap, created_at, created_by,
        priority, attempt, max_attempts)
    SELECT substr(md5(random()::text || i::text), 1, 20), a.organization_id, a.id, a.name,
        a.definition_id, 'ip', 'WAITING', '10.' || (i / 65536) % 256 || '.' || (i / 256) % 256
        || '.' || i % 256, '{}', '', 2, 2, now() - interval '1 second' * i, $3, 'NORMAL', 0, 3
    FROM analyzer a, generate_series(1, $1) AS i WHERE a.id = $2
    RETURNING id, organization_id, analyzer_id, created_at
), events AS (
    INSERT INTO job_event (job_id, at, status, previous_status, actor, message)
    SELECT id, created_at, 'WAITING', NULL, $3, NULL FROM new
)
INSERT INTO job_queue (job_id, organization_id, analyzer_id, priority, enqueued_at,
    available_at, state, cancel_requested)
SELECT id, organization_id, analyzer_id, 1, created_at, created_at, 'QUEUED', false FROM new
"""
