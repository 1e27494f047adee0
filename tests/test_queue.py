"""Submitting and running jobs through HTTP: submit, claim, heartbeat, complete, fail, release."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest

from app.services.sweeper import sweep
from tests.mutation_support import database
from tests.queue_support import (
    CLAIM,
    COMPLETE,
    FAIL,
    HEARTBEAT,
    JOB,
    RELEASE,
    REPORT,
    SUBMIT,
    UPDATE_ANALYZER,
    claim,
    codes,
    job_input,
    lease_of,
    new_analyzer,
    submit,
    worker_key,
)
from tests.support import Env, twin_env

COUNT = "query($a: String!) { jobs(tql: $a, includeDeleted: true) { totalCount } }"


async def jobs_of(env: Env, analyzer_id: str) -> int:
    data = await env.data(COUNT, {"a": f'analyzerId = "{analyzer_id}"'})
    return int(data["jobs"]["totalCount"])


async def test_a_job_runs_end_to_end(env: Env) -> None:
    analyzer = await new_analyzer(env)
    key = await worker_key(env)
    submitted = await submit(env, analyzer, priority="HIGH")
    job = submitted["job"]
    assert job["status"] == "WAITING" and job["priority"] == "HIGH" and job["attempt"] == 0
    assert job["queue"] == {"state": "QUEUED", "reason": None, "workerId": None}
    assert not (submitted["fromCache"] or submitted["deduplicated"] or submitted["replayed"])

    claimed = await claim(env, key, analyzer, max=5)
    assert [lease["job"]["id"] for lease in claimed["leases"]] == [job["id"]]
    lease = claimed["leases"][0]
    assert lease["attempt"] == 1 and lease["job"]["status"] == "IN_PROGRESS"
    beat = await env.data(HEARTBEAT, {"leases": [lease_of(lease)]}, key=key)
    assert beat["heartbeat"][0]["state"] == "HELD"

    done = await env.data(COMPLETE, {"lease": lease_of(lease), "report": REPORT}, key=key)
    finished = done["completeJob"]
    assert finished["status"] == "SUCCESS"
    assert finished["report"]["summary"]["taxonomies"] == [{"level": "SAFE", "value": "ok"}]
    assert finished["report"]["artifacts"] == [{"data": "example.org"}]
    again = await env.data(COMPLETE, {"lease": lease_of(lease), "report": REPORT}, key=key)
    assert again["completeJob"] == finished  # the same lease twice: written once

    seen = (await env.data(JOB, {"id": job["id"]}))["job"]
    assert seen["queue"] is None
    assert [(e["status"], e["previousStatus"]) for e in seen["events"]] == [
        ("WAITING", None),
        ("IN_PROGRESS", "WAITING"),
        ("SUCCESS", "IN_PROGRESS"),
    ]


@pytest.mark.parametrize(
    ("change", "argument"),
    [
        ({"analyzerId": "f" * 20}, "input.analyzerId"),
        ({"dataType": "mail", "data": "a@example.org"}, "input.dataType"),
        ({"tlp": 3}, "input.tlp"),
        ({"attachmentId": "f" * 20}, "input.data"),
        ({"data": None}, "input.data"),
        ({"parameters": [1, 2]}, "input.parameters"),
        ({"idempotencyKey": "é"}, "input.idempotencyKey"),
    ],
)
async def test_bad_submissions_name_the_argument_and_store_nothing(
    env: Env, change: dict[str, object], argument: str
) -> None:
    analyzer = await new_analyzer(env)
    body = await env.gql(SUBMIT, {"input": {**job_input(analyzer), **change}}, key="demo.analyze")
    assert codes(body) == [("BAD_USER_INPUT", argument)]
    assert await jobs_of(env, analyzer) == 0


async def test_a_disabled_or_foreign_analyzer_takes_no_job(env: Env) -> None:
    mine = await new_analyzer(env, enabled=False)
    theirs = await new_analyzer(env, organization="acme")
    for analyzer in (mine, theirs):
        body = await env.gql(SUBMIT, {"input": job_input(analyzer)}, key="demo.analyze")
        assert codes(body) == [("BAD_USER_INPUT", "input.analyzerId")]


async def test_roles_guard_each_side(env: Env) -> None:
    analyzer = await new_analyzer(env)
    key = await worker_key(env)
    body = await env.gql(SUBMIT, {"input": job_input(analyzer)}, key=key)
    assert codes(body) == [("FORBIDDEN", None)]
    body = await env.gql(
        CLAIM, {"input": {"workerId": "w", "analyzerIds": [analyzer]}}, key="demo.admin"
    )
    assert codes(body) == [("FORBIDDEN", None)]
    assert await jobs_of(env, analyzer) == 0


async def test_the_cache_and_in_flight_deduplication(env: Env) -> None:
    analyzer = await new_analyzer(env, job_cache_minutes=5)
    key = await worker_key(env)
    first = await submit(env, analyzer, parameters={"b": 1, "a": 2})
    same = await submit(env, analyzer, parameters={"a": 2, "b": 1})  # key order is no difference
    assert same["deduplicated"] and same["job"]["id"] == first["job"]["id"]
    lease = (await claim(env, key, analyzer))["leases"][0]
    await env.data(COMPLETE, {"lease": lease_of(lease), "report": REPORT}, key=key)

    cached = await submit(env, analyzer, parameters={"a": 2, "b": 1})
    assert cached["fromCache"] and cached["job"]["id"] == first["job"]["id"]
    assert cached["cacheAgeSeconds"] is not None and cached["cacheAgeSeconds"] >= 0
    other_tlp = await submit(env, analyzer, tlp=1, parameters={"a": 2, "b": 1})
    forced = await submit(env, analyzer, parameters={"a": 2, "b": 1}, force=True)
    assert not other_tlp["fromCache"] and not forced["fromCache"]
    assert len({first["job"]["id"], other_tlp["job"]["id"], forced["job"]["id"]}) == 3

    await env.data(
        UPDATE_ANALYZER, {"id": analyzer, "settings": {"jobCacheMinutes": 0}}, key="demo.admin"
    )
    lease = (await claim(env, key, analyzer, max=5))["leases"]
    for one in lease:
        await env.data(COMPLETE, {"lease": lease_of(one), "report": REPORT}, key=key)
    assert not (await submit(env, analyzer, data="203.0.113.9"))["fromCache"]


async def test_failed_jobs_are_never_reused(env: Env) -> None:
    analyzer = await new_analyzer(env)
    key = await worker_key(env)
    first = await submit(env, analyzer)
    lease = (await claim(env, key, analyzer))["leases"][0]
    await env.data(FAIL, {"lease": lease_of(lease), "error": "boom"}, key=key)
    again = await submit(env, analyzer)
    assert not again["fromCache"] and again["job"]["id"] != first["job"]["id"]


async def test_idempotency_keys(env: Env) -> None:
    analyzer = await new_analyzer(env)
    first = await submit(env, analyzer, idempotencyKey="order-1", force=True)
    replay = await submit(env, analyzer, idempotencyKey="order-1", force=True)
    assert replay["replayed"] and replay["job"]["id"] == first["job"]["id"]
    body = await env.gql(
        SUBMIT,
        {"input": job_input(analyzer, "203.0.113.1", idempotencyKey="order-1")},
        key="demo.analyze",
    )
    assert codes(body) == [("CONFLICT", "IDEMPOTENCY_KEY_REUSED")]
    # The header means the same as the field.
    headers = {
        "Authorization": "Bearer jq_demoanalyze_analyze-key-for-the-demo-organization-only",
        "Idempotency-Key": "order-1",
    }
    payload = {"query": SUBMIT, "variables": {"input": job_input(analyzer, force=True)}}
    response = await env.client.post("/graphql", json=payload, headers=headers)
    assert response.json()["data"]["submitJob"]["job"]["id"] == first["job"]["id"]
    assert await jobs_of(env, analyzer) == 1


async def test_identical_concurrent_submissions_make_one_job(env: Env) -> None:
    analyzer = await new_analyzer(env)
    # A connection for each: all 50 transactions race in the database, none waits in the pool
    # (a slow machine would otherwise answer some SERVICE_UNAVAILABLE after the pool wait).
    async with twin_env(env, pool_size=55, pool_timeout_seconds=4.5) as racing:
        answers = await asyncio.gather(*(submit(racing, analyzer) for _ in range(50)))
    assert len({a["job"]["id"] for a in answers}) == 1
    assert sum(not a["deduplicated"] for a in answers) == 1
    assert await jobs_of(env, analyzer) == 1


async def test_a_lost_lease_writes_nothing_and_the_newer_attempt_stands(env: Env) -> None:
    analyzer = await new_analyzer(env, max_attempts=2)
    key = await worker_key(env)
    job_id = (await submit(env, analyzer))["job"]["id"]
    stale = (await claim(env, key, analyzer, leaseSeconds=1))["leases"][0]
    swept = await sweep(database(env), datetime.now(UTC) + timedelta(seconds=2))
    assert swept.requeued == 1
    beat = await env.data(HEARTBEAT, {"leases": [lease_of(stale)]}, key=key)
    assert beat["heartbeat"][0]["state"] == "LOST"

    fresh = (await claim(env, key, analyzer))["leases"][0]
    assert fresh["attempt"] == 2 and fresh["leaseToken"] != stale["leaseToken"]
    late = await env.gql(COMPLETE, {"lease": lease_of(stale), "report": REPORT}, key=key)
    assert codes(late) == [("CONFLICT", "LEASE_LOST")]
    await env.data(COMPLETE, {"lease": lease_of(fresh), "report": REPORT}, key=key)
    seen = (await env.data(JOB, {"id": job_id}))["job"]
    assert seen["status"] == "SUCCESS" and seen["attempt"] == 2
    statuses = [e["status"] for e in seen["events"]]
    assert statuses == ["WAITING", "IN_PROGRESS", "WAITING", "IN_PROGRESS", "SUCCESS"]


async def test_an_expired_lease_without_attempts_left_times_out(env: Env) -> None:
    analyzer = await new_analyzer(env)
    key = await worker_key(env)
    job_id = (await submit(env, analyzer))["job"]["id"]
    lease = (await claim(env, key, analyzer, leaseSeconds=1))["leases"][0]
    assert (await sweep(database(env), datetime.now(UTC) + timedelta(seconds=2))).timed_out == 1
    late = await env.gql(COMPLETE, {"lease": lease_of(lease), "report": REPORT}, key=key)
    assert codes(late) == [("CONFLICT", "LEASE_LOST")]
    assert (await env.data(JOB, {"id": job_id}))["job"]["status"] == "TIMEOUT"


async def test_cancel_reaches_the_running_worker(env: Env) -> None:
    analyzer = await new_analyzer(env)
    key = await worker_key(env)
    job_id = (await submit(env, analyzer))["job"]["id"]
    lease = (await claim(env, key, analyzer))["leases"][0]
    cancel = "mutation($id: ID!) { cancelJob(id: $id, reason: 'wrong ip') { status } }"
    cancel = cancel.replace("'", '"')
    await env.data(cancel, {"id": job_id}, key="demo.analyze")
    queued = (await env.data(JOB, {"id": job_id}))["job"]
    assert queued["status"] == "CANCELLED" and queued["queue"] is None
    beat = await env.data(HEARTBEAT, {"leases": [lease_of(lease)]}, key=key)
    assert beat["heartbeat"][0]["state"] == "CANCELLED"
    late = await env.gql(COMPLETE, {"lease": lease_of(lease), "report": REPORT}, key=key)
    assert [e["extensions"]["status"] for e in late["errors"]] == ["CANCELLED"]
    assert (await env.data(JOB, {"id": job_id}))["job"]["status"] == "CANCELLED"


async def test_release_and_retry_go_back_to_the_queue(env: Env) -> None:
    analyzer = await new_analyzer(env, max_attempts=2)
    key = await worker_key(env)
    job_id = (await submit(env, analyzer))["job"]["id"]
    lease = (await claim(env, key, analyzer))["leases"][0]
    released = await env.data(RELEASE, {"lease": lease_of(lease)}, key=key)
    assert released["releaseJob"] == {"id": job_id, "status": "WAITING", "attempt": 0}

    lease = (await claim(env, key, analyzer))["leases"][0]
    assert lease["attempt"] == 1
    retry = {"lease": lease_of(lease), "error": "upstream 503", "retryable": True}
    failed = (await env.data(FAIL, retry, key=key))["failJob"]
    assert failed["status"] == "WAITING"
    assert failed["queue"] == {"state": "QUEUED", "reason": "RETRY_BACKOFF"}
    assert (await claim(env, key, analyzer))["leases"] == []  # still backing off


async def test_a_final_failure_is_reported(env: Env) -> None:
    analyzer = await new_analyzer(env, max_attempts=2)
    key = await worker_key(env)
    await submit(env, analyzer)
    lease = (await claim(env, key, analyzer))["leases"][0]
    failed = await env.data(FAIL, {"lease": lease_of(lease), "error": "bad input"}, key=key)
    assert failed["failJob"]["status"] == "FAILURE"
    assert failed["failJob"]["report"] == {"errorMessage": "bad input"}


async def test_rate_limits_queue_and_never_fail(env: Env) -> None:
    analyzer = await new_analyzer(env, rate=4, rate_unit="MINUTE")
    key = await worker_key(env)
    ids = [(await submit(env, analyzer, data=f"192.0.2.{i}"))["job"]["id"] for i in range(8)]
    first = await claim(env, key, analyzer, max=10)
    assert len(first["leases"]) == 4 and 0 < first["retryAfterSeconds"] <= 60
    again = await claim(env, key, analyzer, max=10)
    assert again["leases"] == [] and again["retryAfterSeconds"] is not None
    waiting = (await env.data(JOB, {"id": ids[-1]}))["job"]
    assert waiting["status"] == "WAITING" and waiting["queue"]["reason"] == "RATE_LIMITED"


async def test_concurrency_limits_queue(env: Env) -> None:
    analyzer = await new_analyzer(env, max_concurrent=2)
    key = await worker_key(env)
    ids = [(await submit(env, analyzer, data=f"192.0.2.{i}"))["job"]["id"] for i in range(5)]
    leases = (await claim(env, key, analyzer, max=5))["leases"]
    assert len(leases) == 2
    held = (await env.data(JOB, {"id": ids[-1]}))["job"]["queue"]
    assert held["reason"] == "CONCURRENCY_LIMITED"
    await env.data(COMPLETE, {"lease": lease_of(leases[0]), "report": REPORT}, key=key)
    assert len((await claim(env, key, analyzer, max=5))["leases"]) == 1


async def test_priorities_then_age(env: Env) -> None:
    analyzer = await new_analyzer(env)
    key = await worker_key(env)
    low = (await submit(env, analyzer, data="192.0.2.1", priority="LOW"))["job"]["id"]
    normal = (await submit(env, analyzer, data="192.0.2.2"))["job"]["id"]
    urgent = (await submit(env, analyzer, data="192.0.2.3", priority="URGENT"))["job"]["id"]
    leases = (await claim(env, key, analyzer, max=3))["leases"]
    assert [lease["job"]["id"] for lease in leases] == [urgent, normal, low]


async def test_a_claim_over_several_analyzers_takes_the_best_of_all(env: Env) -> None:
    """Each analyzer's queue is read by its own index; the claim keeps the best `max` of them,
    each with its own analyzer's deadline, and leaves the rest queued."""
    quick, slow = await new_analyzer(env), await new_analyzer(env, timeout_seconds=7200)
    key = await worker_key(env)
    old = (await submit(env, slow, data="192.0.2.1"))["job"]["id"]
    urgent = (await submit(env, quick, data="192.0.2.2", priority="URGENT"))["job"]["id"]
    left = (await submit(env, quick, data="192.0.2.3", priority="LOW"))["job"]["id"]
    newer = (await submit(env, slow, data="192.0.2.4"))["job"]["id"]
    got = (await claim(env, key, quick, analyzerIds=[quick, slow], max=3))["leases"]
    assert [lease["job"]["id"] for lease in got] == [urgent, old, newer]
    hours = {
        lease["job"]["id"]: (
            datetime.fromisoformat(lease["deadline"])
            - datetime.fromisoformat(lease["leaseExpiresAt"])
        ).total_seconds()
        // 3600
        for lease in got
    }
    assert hours == {urgent: 0, old: 1, newer: 1}  # 30 min and 2 h deadlines, 60 s leases
    assert [lease["job"]["id"] for lease in (await claim(env, key, quick))["leases"]] == [left]


async def test_workers_are_tenants_of_one_organization(env: Env) -> None:
    analyzer = await new_analyzer(env)
    acme_worker = await worker_key(env, "acme")
    await submit(env, analyzer)
    body = await env.gql(
        CLAIM, {"input": {"workerId": "w", "analyzerIds": [analyzer]}}, key=acme_worker
    )
    assert codes(body) == [("BAD_USER_INPUT", "input.analyzerIds")]


async def test_update_analyzer_checks_and_scopes(env: Env) -> None:
    analyzer = await new_analyzer(env)
    settings = {"rate": 10, "rateUnit": "HOUR", "maxConcurrent": 3, "maxAttempts": 3}
    data = await env.data(UPDATE_ANALYZER, {"id": analyzer, "settings": settings}, key="demo.admin")
    assert data["updateAnalyzer"]["rate"] == 10 and data["updateAnalyzer"]["rateUnit"] == "HOUR"
    cleared = await env.data(
        UPDATE_ANALYZER,
        {"id": analyzer, "settings": {"rate": None, "rateUnit": None}},
        key="demo.admin",
    )
    assert cleared["updateAnalyzer"]["rate"] is None
    assert cleared["updateAnalyzer"]["maxConcurrent"] == 3  # left out: unchanged
    for bad, argument in [
        ({"rate": 5}, "settings.rate"),
        ({"maxAttempts": 0}, "settings.maxAttempts"),
        ({"enabled": None}, "settings.enabled"),
    ]:
        body = await env.gql(UPDATE_ANALYZER, {"id": analyzer, "settings": bad}, key="demo.admin")
        assert codes(body) == [("BAD_USER_INPUT", argument)]
    body = await env.gql(UPDATE_ANALYZER, {"id": analyzer, "settings": {}}, key="acme.admin")
    assert codes(body) == [("NOT_FOUND", "id")]
    body = await env.gql(UPDATE_ANALYZER, {"id": analyzer, "settings": {}}, key="demo.analyze")
    assert codes(body) == [("FORBIDDEN", None)]


async def test_cancel_jobs_in_bulk(env: Env) -> None:
    analyzer = await new_analyzer(env)
    key = await worker_key(env)
    for i in range(3):
        await submit(env, analyzer, data=f"192.0.2.{i}")
    lease = (await claim(env, key, analyzer))["leases"][0]
    bulk = "mutation($t: String!) { cancelJobs(tql: $t, reason: 'cleanup') }".replace("'", '"')
    data = await env.data(bulk, {"t": f'analyzerId = "{analyzer}"'}, key="demo.admin")
    assert data["cancelJobs"] == 3
    beat = await env.data(HEARTBEAT, {"leases": [lease_of(lease)]}, key=key)
    assert beat["heartbeat"][0]["state"] == "CANCELLED"
    body = await env.gql("mutation { cancelJobs(filter: {}) }", key="demo.admin")
    assert codes(body) == [("BAD_USER_INPUT", "filter")]


async def test_workers_query(env: Env) -> None:
    analyzer = await new_analyzer(env)
    key = await worker_key(env, login="runner-a@demo")
    await submit(env, analyzer)
    await claim(env, key, analyzer)
    data = await env.data(
        "{ workers { id login analyzerIds leases lastSeenAt } }", key="demo.admin"
    )
    assert [(w["id"], w["login"], w["analyzerIds"], w["leases"]) for w in data["workers"]] == [
        ("w1", "runner-a@demo", [analyzer], 1)
    ]
    assert (await env.data("{ workers { id } }", key="acme.admin"))["workers"] == []


async def test_a_claim_takes_exactly_max_under_any_plan(env: Env) -> None:
    """The classic SKIP LOCKED bug: `WHERE id IN (SELECT … LIMIT n FOR UPDATE SKIP LOCKED)`
    under a nested-loop plan may run the subquery again and update more than n rows. jobql
    updates exactly the ids it picked; the planner is pushed to nested loops to show it."""
    if env.backend == "postgres":
        database_name = env.settings.database_url.rsplit("/", 1)[1]
        async with database(env).write() as conn:
            for knob in ("enable_hashjoin", "enable_mergejoin", "enable_material"):
                await conn.exec_driver_sql(f'ALTER DATABASE "{database_name}" SET {knob} = off')
        await database(env).engine.dispose()  # new connections take the settings
    analyzer = await new_analyzer(env)
    key = await worker_key(env)
    for i in range(20):
        await submit(env, analyzer, data=f"192.0.2.{i}")
    leases = (await claim(env, key, analyzer, max=5))["leases"]
    assert len(leases) == 5
    running = f'analyzerId = "{analyzer}" and status = "IN_PROGRESS"'
    data = await env.data("query($t: String!) { jobs(tql: $t) { totalCount } }", {"t": running})
    assert data["jobs"]["totalCount"] == 5


CLAIM_ONLY = """mutation($input: ClaimJobsInput!) {
  claimJobs(input: $input) { leases { leaseToken job { id } } } }"""
COMPLETE_ONLY = """mutation($lease: LeaseRef!, $report: ReportInput!) {
  completeJob(lease: $lease, report: $report) { id } }"""
HEARTBEAT_ONLY = "mutation($leases: [LeaseRef!]!) { heartbeat(leases: $leases) { state } }"


async def test_claims_heartbeats_and_completions_cost_fixed_statements(env: Env) -> None:
    """Per call, never per job: a claim of 1 or 10 jobs, a heartbeat of 1 or 10 leases.
    (The key check counts: the principal cache is off in tests.)"""
    analyzer = await new_analyzer(env)
    key = await worker_key(env)
    for i in range(11):
        await submit(env, analyzer, data=f"192.0.2.{i}")
    counted: dict[str, list[int]] = {"claim": [], "heartbeat": [], "complete": []}
    leases: list[dict[str, object]] = []
    for size in (1, 10):
        claim_input = {"workerId": "w1", "analyzerIds": [analyzer], "max": size}
        with env.statements() as seen:
            got = (await env.data(CLAIM_ONLY, {"input": claim_input}, key=key))["claimJobs"]
        counted["claim"].append(len(seen))
        refs = [
            {"jobId": lease["job"]["id"], "leaseToken": lease["leaseToken"]}
            for lease in got["leases"]
        ]
        assert len(refs) == size
        with env.statements() as seen:
            await env.data(HEARTBEAT_ONLY, {"leases": refs}, key=key)
        counted["heartbeat"].append(len(seen))
        leases += refs
    with env.statements() as seen:
        await env.data(COMPLETE_ONLY, {"lease": leases[0], "report": REPORT}, key=key)
    counted["complete"].append(len(seen))
    # claim: key, analyzers, then on PostgreSQL one statement (pick, jobs, events, queue rows,
    # worker seen: data-modifying CTEs, no transaction), on SQLite one each; heartbeat: key,
    # leases, renew, worker seen; complete: key, queue row, job, status (and verdict), event,
    # queue row gone, report, its taxonomy rows, artifacts.
    claims = 3 if env.backend == "postgres" else 7
    assert counted == {"claim": [claims, claims], "heartbeat": [4, 4], "complete": [9]}


async def test_submissions_cost_fixed_statements(env: Env) -> None:
    """A miss (a new job) and a hit (the cache), counted. PostgreSQL: key, analyzer, the
    key's advisory lock, in-flight-or-cached in one read, depth, then the job with its event
    and queue row in one statement, and the answer's `queue` read (a hit has no queue row);
    SQLite has no advisory lock and writes the three rows in three statements (no
    data-modifying CTEs). Before: 10 and 5 on PostgreSQL."""
    analyzer = await new_analyzer(env)
    key = await worker_key(env)
    with env.statements() as seen:
        job = (await submit(env, analyzer, data="192.0.2.200"))["job"]
    miss = len(seen)
    [lease] = (await claim(env, key, analyzer))["leases"]
    await env.data(COMPLETE_ONLY, {"lease": lease_of(lease), "report": REPORT}, key=key)
    with env.statements() as seen:
        again = await submit(env, analyzer, data="192.0.2.200")
    assert again["fromCache"] is True and again["job"]["id"] == job["id"]
    postgres = env.backend == "postgres"
    assert (miss, len(seen)) == ((7, 4) if postgres else (8, 3))
