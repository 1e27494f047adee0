"""jobStats' rollup (migration 0008) through HTTP on both databases: the rollup path answers as
the raw GROUP BY does after every kind of write, before and after folding; its statement; the
migration's backfill."""

from __future__ import annotations

import asyncio
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from alembic import command
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import create_async_engine

from app.db.migrate import alembic_config, upgrade
from app.db.models import job_count_deltas, job_counts, jobs
from app.services import rollup
from app.services.sweeper import sweep
from tests.mutation_support import CANCEL, DELETE, PURGE, database
from tests.queue_support import (
    COMPLETE,
    FAIL,
    REPORT,
    claim,
    lease_of,
    new_analyzer,
    submit,
    worker_key,
)
from tests.support import Env, raw_only, twin_env

STATS = """
query ($by: [JobStatsDimension!]!, $tql: String, $filter: JobFilter, $bucket: TimeBucket,
       $deleted: Boolean) {
  jobStats(groupBy: $by, tql: $tql, filter: $filter, bucket: $bucket, includeDeleted: $deleted) {
    total truncated
    groups { status analyzerId analyzerName dataType tlp verdict bucketStart count }
  }
}"""
# Each is answered from the rollup: no bound (today's jobs in its days), unaligned bounds
# (edge days from job), conditions on its columns, deleted jobs in or out.
REQUESTS: list[dict[str, Any]] = [
    {"by": ["STATUS", "ANALYZER"]},
    {"by": ["STATUS", "VERDICT", "DATA_TYPE"], "deleted": True, "tql": "tlp >= 1"},
    {"by": ["TIME"], "bucket": "DAY",
     "filter": {"timeRange": {"from": "now - 30 days", "to": "now"}}},
    {"by": ["TIME", "TLP"], "bucket": "WEEK",
     "tql": 'createdAt > "now - 100 days" and createdAt < "now + 3 hours" and verdict != "SAFE"'},
    {"by": ["ANALYZER", "STATUS"], "deleted": True,
     "tql": 'createdAt >= "now - 400 days" and (analyzerName startswith "abuse" or not status in '
            '("SUCCESS", "WAITING"))'},
]  # fmt: skip


async def answers(env: Env, request: dict[str, Any]) -> tuple[Any, Any]:
    """The rollup path's response and the raw path's, whole."""
    with env.statements() as seen:
        rolled = await env.gql(STATS, request)
    assert any("job_count" in s for s in seen), request
    with raw_only(), env.statements() as seen:
        raw = await env.gql(STATS, request)
    assert not any("job_count" in s for s in seen), request
    return rolled, raw


async def assert_agree(env: Env, step: str) -> None:
    for request in REQUESTS:
        rolled, raw = await answers(env, request)
        assert "errors" not in raw and rolled == raw, (step, request)
    await rollup.fold(database(env))
    async with database(env).read() as conn:
        assert await conn.scalar(select(func.count()).select_from(job_count_deltas)) == 0
    for request in REQUESTS:
        rolled, raw = await answers(env, request)
        assert rolled == raw, (step, "folded", request)
    assert await stored_counts(env) == await raw_counts(env), step


async def stored_counts(env: Env) -> Counter[tuple[Any, ...]]:
    keys = [c for c in job_counts.c if c.name != "n"]
    async with database(env).read() as conn:
        rows = await conn.execute(select(*keys, job_counts.c.n).where(job_counts.c.n != 0))
        return Counter({tuple(row[:-1]): row[-1] for row in rows})


async def raw_counts(env: Env) -> Counter[tuple[Any, ...]]:
    """job_count as it should be, counted in Python from the job rows."""
    names = ("organization_id", "created_at", "status", "analyzer_id", "analyzer_name",
             "data_type", "tlp", "verdict")  # fmt: skip
    async with database(env).read() as conn:
        rows = await conn.execute(select(*(jobs.c[name] for name in names)))
        found: Counter[tuple[Any, ...]] = Counter()
        for org, at, *rest, verdict in rows:
            day = at.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
            found[(org, day, *rest, -1 if verdict is None else verdict)] += 1
        return found


async def test_rollup_and_raw_agree_after_every_kind_of_write(env: Env) -> None:
    await assert_agree(env, "demo data")
    analyzer = await new_analyzer(env, max_attempts=1)
    key = await worker_key(env)
    ids = [(await submit(env, analyzer, f"198.51.100.{i}"))["job"]["id"] for i in range(6)]
    await assert_agree(env, "submit")
    # Leases long enough for a slow machine's checks between claim and completion.
    leases = (await claim(env, key, analyzer, max=4, leaseSeconds=60))["leases"]
    await assert_agree(env, "claim")
    await env.data(COMPLETE, {"lease": lease_of(leases[0]), "report": REPORT}, key=key)
    await assert_agree(env, "complete")
    error = {"lease": lease_of(leases[1]), "error": "broken", "retryable": False}
    await env.data(FAIL, error, key=key)
    await assert_agree(env, "fail")
    waiting = [i for i in ids if i not in {lease["job"]["id"] for lease in leases}]
    await env.data(CANCEL, {"id": waiting[0]}, key="demo.analyze")
    await assert_agree(env, "cancel")
    await env.data(DELETE, {"id": ids[0]}, key="demo.analyze")
    await assert_agree(env, "delete")
    await env.data(PURGE, {"id": ids[1]}, key="demo.admin")
    await assert_agree(env, "purge")
    swept = await sweep(database(env), datetime.now(UTC) + timedelta(seconds=61))
    assert swept.timed_out == 2
    await assert_agree(env, "sweeper TIMEOUT")


async def test_the_rollup_path_is_one_statement_over_both_tables_and_the_edge_days(
    env: Env,
) -> None:
    with env.statements() as seen:
        await env.data(STATS, REQUESTS[2])
    statements = [s for s in seen if "job_count" in s]
    assert len(statements) == 1, seen
    sql = statements[0]
    assert "job_count_delta" in sql and sql.count("FROM job ") + sql.count("FROM job\n") == 2


@pytest.mark.parametrize(
    "request_",
    [
        {"by": ["TIME"], "bucket": "HOUR", "tql": 'createdAt between "now - 9 days" and "now"'},
        {"by": ["STATUS"], "tql": 'createdAt >= "now - 2 days" or tlp = 2'},
        {"by": ["STATUS"], "tql": 'priority = "HIGH"'},
        {"by": ["STATUS"], "tql": 'taxonomy has (level >= "SAFE")'},
        {"by": ["STATUS"], "tql": 'createdAt between "now - 3 hours" and "now"'},
    ],
)
async def test_what_the_rollup_cannot_answer_goes_to_the_job_table(
    env: Env, request_: dict[str, Any]
) -> None:
    with env.statements() as seen:
        await env.data(STATS, request_)
    assert not any("job_count" in s for s in seen)


async def test_the_migrations_backfill_agrees_with_a_raw_count(env: Env) -> None:
    await env.app.state.db.dispose()
    engine = create_async_engine(env.settings.database_url)
    try:
        async with engine.begin() as conn:
            await conn.run_sync(lambda sync: command.downgrade(alembic_config(sync), "0006"))
    finally:
        await engine.dispose()
    await upgrade(env.settings.database_url)  # 0008 again: the backfill from the demo's jobs
    assert await stored_counts(env) == await raw_counts(env)
    async with database(env).read() as conn:
        assert await conn.scalar(select(func.count()).select_from(job_count_deltas)) == 0
    await assert_agree(env, "backfilled")


async def test_folds_racing_with_writers_lose_and_double_nothing(env: Env) -> None:
    """Submissions, claims and completions while folds run beside them (PostgreSQL: each fold
    moves only the deltas its snapshot sees; a second fold waits for none, it skips)."""
    analyzer = await new_analyzer(env, max_attempts=1)
    key = await worker_key(env)
    db = database(env)
    async with twin_env(env, pool_size=20, pool_timeout_seconds=4.5) as racing:

        async def write(i: int) -> None:
            await submit(racing, analyzer, f"203.0.113.{i}")
            for lease in (await claim(racing, key, analyzer, max=2, leaseSeconds=60))["leases"]:
                await racing.data(COMPLETE, {"lease": lease_of(lease), "report": REPORT}, key=key)

        async def folds() -> None:
            for _ in range(8):
                await rollup.fold(db)

        await asyncio.gather(*(write(i) for i in range(12)), folds(), folds())
    await assert_agree(env, "racing folds")
