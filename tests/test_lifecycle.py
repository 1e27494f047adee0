"""The lifecycle rule table, the worker-side transitions, and a finish that comes too late."""

from __future__ import annotations

from typing import Any

import pytest

from app.errors import Conflict, NotFound
from app.services.jobs import FINISHED, JobStatus
from app.services.lifecycle import (
    RULES,
    Action,
    ArtifactData,
    ReportData,
    fail_job,
    finish_job,
    start_job,
    time_out_job,
)
from app.services.removal import BULK_DELETABLE
from tests.mutation_support import (
    CANCEL,
    DELETE,
    assert_consistent_history,
    database,
    job_id,
    lifecycle,
)
from tests.support import Env

W, P, S, F, T, C, D = (
    "WAITING", "IN_PROGRESS", "SUCCESS", "FAILURE", "TIMEOUT", "CANCELLED", "DELETED"
)  # fmt: skip
# action -> (target, {status: outcome}); statuses left out are conflicts. Written out from
# DESIGN.md, not read from the code.
TABLE: dict[Action, tuple[str, dict[str, str]]] = {
    Action.START: (P, {W: "apply"}),
    Action.SUCCEED: (S, {P: "apply"}),
    Action.FAIL: (F, {P: "apply"}),
    Action.TIME_OUT: (T, {P: "apply"}),
    Action.CANCEL: (C, {W: "apply", P: "apply", C: "settled"}),
    Action.DELETE: (D, {W: "apply", P: "apply", S: "apply", F: "apply", T: "apply", C: "apply",
                        D: "settled"}),
    # The three moves back to the queue (DESIGN.md: release, retryable failure, lost lease).
    Action.RELEASE: (W, {P: "apply"}),
    Action.RETRY: (W, {P: "apply"}),
    Action.REQUEUE: (W, {P: "apply"}),
}  # fmt: skip
WORKER = "cortex-worker"
REPORT = ReportData(
    success=True,
    taxonomies=[
        {"level": "MALICIOUS", "namespace": "VT", "predicate": "GetReport", "value": "9/70"}
    ],
    full={"positives": 9, "total": 70},
    artifacts=[ArtifactData(data_type="ip", data="198.51.100.7", tlp=2, tags=("c2",))],
)


@pytest.mark.parametrize("action", list(Action))
def test_the_rule_table_is_the_contract(action: Action) -> None:
    target, outcomes = TABLE[action]
    rule = RULES[action]
    assert rule.target == target
    for status in JobStatus:
        assert rule.judge(status).value == outcomes.get(status, "conflict"), status


def test_deleted_is_the_end_and_finished_jobs_only_get_deleted() -> None:
    assert all(JobStatus.DELETED not in rule.sources for rule in RULES.values())
    leaving_finished = {a for a, rule in RULES.items() if rule.sources & FINISHED}
    assert leaving_finished == {Action.DELETE}
    assert BULK_DELETABLE == FINISHED


async def _start(env: Env, id: str) -> Any:
    return await start_job(database(env), organization="demo", job_id=id, worker=WORKER)


async def test_a_worker_runs_a_job_to_success_with_its_report(env: Env) -> None:
    id = await job_id(env, W)
    await _start(env, id)
    started = await lifecycle(env, id)
    assert started is not None and started["status"] == P
    assert started["startDate"] == started["updatedAt"] and started["updatedBy"] == WORKER
    db = database(env)
    await finish_job(db, organization="demo", job_id=id, worker=WORKER, report=REPORT)
    job = await lifecycle(env, id)
    assert job is not None and job["status"] == S and job["endDate"] == job["updatedAt"]
    assert [e["status"] for e in job["events"]] == [W, P, S]
    assert_consistent_history(job)
    report = job["report"]
    assert report["success"] is True and report["errorMessage"] is None
    assert report["full"] == {"positives": 9, "total": 70}
    assert report["summary"]["taxonomies"] == list(REPORT.taxonomies)
    assert report["artifacts"] == [
        {"dataType": "ip", "data": "198.51.100.7", "tags": ["c2"], "attachment": None}
    ]


@pytest.mark.parametrize("status", [F, T])
async def test_a_worker_fails_or_times_out_a_job(env: Env, status: str) -> None:
    id = await job_id(env, W)
    await _start(env, id)
    db, error = database(env), "Analyzer returned no result"
    if status == F:
        await fail_job(db, organization="demo", job_id=id, worker=WORKER, error_message=error)
    else:
        await time_out_job(db, organization="demo", job_id=id, worker=WORKER, error_message=error)
    job = await lifecycle(env, id)
    assert job is not None and job["status"] == status
    assert job["report"]["success"] is False and job["report"]["errorMessage"] == error
    assert job["events"][-1]["message"] == error
    assert_consistent_history(job)


async def test_workers_follow_the_table_too(env: Env) -> None:
    waiting, running = await job_id(env, W), await job_id(env, P)
    db = database(env)
    before = [await lifecycle(env, id) for id in (waiting, running)]
    with pytest.raises(Conflict) as finish_too_early:
        await finish_job(db, organization="demo", job_id=waiting, worker=WORKER, report=REPORT)
    assert finish_too_early.value.extensions == {"status": W}
    with pytest.raises(Conflict):
        await _start(env, running)
    assert [await lifecycle(env, id) for id in (waiting, running)] == before


@pytest.mark.parametrize("user_action", ["cancel", "delete"])
@pytest.mark.parametrize("outcome", [S, F, T])
async def test_a_finish_after_a_cancel_or_delete_loses(
    env: Env, user_action: str, outcome: str
) -> None:
    id = await job_id(env, W)
    await _start(env, id)
    document = CANCEL if user_action == "cancel" else DELETE
    await env.data(document, {"id": id}, key="demo.analyze")
    before = await lifecycle(env, id)
    assert before is not None
    with pytest.raises(Conflict) as lost:
        await _finish(env, id, outcome)
    assert lost.value.extensions == {"status": before["status"]}
    after = await lifecycle(env, id)
    assert after == before and after is not None and after["report"] is None
    assert_consistent_history(after)


async def _finish(env: Env, id: str, outcome: str) -> None:
    db = database(env)
    if outcome == S:
        await finish_job(db, organization="demo", job_id=id, worker=WORKER, report=REPORT)
    elif outcome == F:
        await fail_job(db, organization="demo", job_id=id, worker=WORKER, error_message="x")
    else:
        await time_out_job(db, organization="demo", job_id=id, worker=WORKER)


async def test_a_worker_cannot_reach_another_organizations_job(env: Env) -> None:
    acme = await job_id(env, W, key="acme.read")
    with pytest.raises(NotFound):
        await _start(env, acme)
    job = await lifecycle(env, acme, key="acme.read")
    assert job is not None and job["status"] == W
