"""jobStats through HTTP on both databases: UTC buckets, limits, scope, errors, statements."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from app.services import stats as service
from tests.support import Env, error_codes

STATS = """
query ($by: [JobStatsDimension!]!, $tql: String, $filter: JobFilter, $bucket: TimeBucket,
       $deleted: Boolean) {
  jobStats(groupBy: $by, tql: $tql, filter: $filter, bucket: $bucket, includeDeleted: $deleted) {
    total truncated groups { status analyzerName verdict bucketStart count }
  }
}"""
ALL = """
query ($after: String) {
  jobs(first: 100, after: $after) {
    pageInfo { hasNextPage endCursor } nodes { status createdAt }
  }
}"""


async def stats(env: Env, key: str = "demo.read", **variables: Any) -> dict[str, Any]:
    return (await env.data(STATS, variables, key=key))["jobStats"]  # type: ignore[no-any-return]


async def all_jobs(env: Env) -> list[dict[str, Any]]:
    nodes: list[dict[str, Any]] = []
    after = None
    while True:
        page = (await env.data(ALL, {"after": after}))["jobs"]
        nodes += page["nodes"]
        if not page["pageInfo"]["hasNextPage"]:
            return nodes
        after = page["pageInfo"]["endCursor"]


def bucket_of(at: datetime, bucket: str) -> datetime:
    at = at.astimezone(UTC)
    if bucket == "HOUR":
        return at.replace(minute=0, second=0, microsecond=0)
    day = at.replace(hour=0, minute=0, second=0, microsecond=0)
    return day if bucket == "DAY" else day - timedelta(days=day.weekday())


@pytest.mark.parametrize("bucket", ["HOUR", "DAY", "WEEK"])
async def test_time_buckets_are_utc_and_match_a_python_count(env: Env, bucket: str) -> None:
    rows = await all_jobs(env)
    tql = 'createdAt >= "now - 400 days" and createdAt <= "now + 1 day"'
    found = await stats(env, by=["TIME", "STATUS"], tql=tql, bucket=bucket)
    expected = Counter(
        (bucket_of(datetime.fromisoformat(r["createdAt"]), bucket), r["status"]) for r in rows
    )
    got = {(datetime.fromisoformat(g["bucketStart"]), g["status"]): g["count"]
           for g in found["groups"]}  # fmt: skip
    assert got == dict(expected) and found["total"] == len(rows)
    assert all(g["bucketStart"].endswith("+00:00") for g in found["groups"])


async def test_time_needs_a_bounded_created_at_range(env: Env) -> None:
    for tql in (None, 'createdAt >= "now - 7 days"', 'updatedAt between "now - 1d" and "now"'):
        body = await env.gql(STATS, {"by": ["TIME"], "tql": tql})
        assert error_codes(body) == ["BAD_USER_INPUT"], tql
        assert body["errors"][0]["extensions"]["argument"] == "groupBy"
    ranged = {"timeRange": {"from": "now - 90 days", "to": "now"}}
    assert (await stats(env, by=["TIME"], filter=ranged))["total"] > 0


async def test_dimension_limits(env: Env) -> None:
    for by in ([], ["STATUS", "TLP", "VERDICT", "DATA_TYPE"], ["TLP", "TLP"]):
        body = await env.gql(STATS, {"by": by})
        assert error_codes(body) == ["BAD_USER_INPUT"], by


async def test_groups_are_truncated_past_the_limit(
    env: Env, monkeypatch: pytest.MonkeyPatch
) -> None:
    whole = await stats(env, by=["ANALYZER", "STATUS"])
    assert len(whole["groups"]) > 3 and not whole["truncated"]
    monkeypatch.setattr(service, "MAX_GROUPS", 3)
    cut = await stats(env, by=["ANALYZER", "STATUS"])
    assert cut["truncated"] and cut["groups"] == whole["groups"][:3]
    assert cut["total"] == whole["total"]


async def test_scope_and_include_deleted_follow_jobs(env: Env) -> None:
    demo = await stats(env, by=["STATUS"])
    acme = await stats(env, key="acme.read", by=["STATUS"])
    count = "query ($d: Boolean) { jobs(includeDeleted: $d) { totalCount } }"
    assert demo["total"] == (await env.data(count))["jobs"]["totalCount"]
    assert acme["total"] == (await env.data(count, key="acme.read"))["jobs"]["totalCount"]
    assert "DELETED" not in {g["status"] for g in demo["groups"]}
    with_deleted = await stats(env, by=["STATUS"], deleted=True)
    assert "DELETED" in {g["status"] for g in with_deleted["groups"]}
    assert with_deleted["total"] == (await env.data(count, {"d": True}))["jobs"]["totalCount"]


async def test_job_stats_is_one_statement(env: Env) -> None:
    with env.statements() as baseline:
        await env.data("{ jobs(first: 1) { nodes { id } } }")
    for by in (["STATUS", "ANALYZER"], ["VERDICT"], ["TIME"]):
        tql = 'createdAt between "now - 90 days" and "now" and taxonomy has (level >= "SAFE")'
        with env.statements() as seen:
            await stats(env, by=by, tql=tql)
        assert len(seen) == len(baseline), by
