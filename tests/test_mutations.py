"""cancelJob, deleteJob, deleteJobs and purgeJob through HTTP: roles, statuses, organizations."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.mutation_support import (
    CANCEL,
    DELETE,
    DELETE_MANY,
    FINISHED,
    LOGINS,
    PURGE,
    STATUSES,
    UNKNOWN_ID,
    count_jobs,
    job_id,
    job_ids,
    lifecycle,
)
from tests.support import KEYS, Env, error_codes

# The contract's roles, written out rather than read from the code.
ALLOWED = {
    "cancelJob": {"demo.analyze", "demo.admin"},
    "deleteJob": {"demo.analyze", "demo.admin"},
    "deleteJobs": {"demo.admin"},
    "purgeJob": {"demo.admin"},
}
CALLS = {
    "cancelJob": (CANCEL, lambda id: {"id": id, "reason": "Wrong observable"}),
    "deleteJob": (DELETE, lambda id: {"id": id}),
    "deleteJobs": (DELETE_MANY, lambda id: {"tql": f'id = "{id}"'}),
    "purgeJob": (PURGE, lambda id: {"id": id}),
}
PAYLOAD = ("id", "status", "updatedAt", "updatedBy", "startDate", "endDate", "events")


async def call(env: Env, mutation: str, id: str, *, key: str = "demo.admin") -> dict[str, Any]:
    document, variables = CALLS[mutation]
    return await env.gql(document, variables(id), key=key)


def payload(job: dict[str, Any] | None) -> dict[str, Any]:
    assert job is not None
    return {name: job[name] for name in PAYLOAD}


def assert_moved(
    before: dict[str, Any] | None,
    after: dict[str, Any] | None,
    *,
    status: str,
    actor: str,
    message: str | None,
) -> None:
    """`after` is `before` moved to `status`, with one more event that says so."""
    assert before is not None and after is not None
    event = {
        "at": after["updatedAt"],
        "status": status,
        "previousStatus": before["status"],
        "actor": actor,
        "message": message,
    }
    assert after["events"] == [*before["events"], event]
    assert (after["status"], after["updatedBy"]) == (status, actor)
    assert after["startDate"] == before["startDate"]
    assert after["report"] == before["report"]


@pytest.mark.parametrize("key", ["demo.read", "demo.analyze", "demo.admin"])
@pytest.mark.parametrize("mutation", list(ALLOWED))
async def test_each_role_may_call_only_its_mutations(env: Env, mutation: str, key: str) -> None:
    id = await job_id(env, "IN_PROGRESS" if mutation == "cancelJob" else "SUCCESS")
    before = await lifecycle(env, id)
    body = await call(env, mutation, id, key=key)
    after = await lifecycle(env, id)
    if key in ALLOWED[mutation]:
        assert "errors" not in body, body
        assert after != before
    else:
        assert error_codes(body) == ["FORBIDDEN"]
        assert body["data"] is None
        assert after == before


CANCEL_OUTCOMES = {
    "WAITING": "CANCELLED",
    "IN_PROGRESS": "CANCELLED",
    "CANCELLED": "UNCHANGED",
    "SUCCESS": "CONFLICT",
    "FAILURE": "CONFLICT",
    "TIMEOUT": "CONFLICT",
    "DELETED": "CONFLICT",
}
DELETE_OUTCOMES = {status: "DELETED" for status in STATUSES} | {"DELETED": "UNCHANGED"}


@pytest.mark.parametrize("status", STATUSES)
async def test_cancel_by_status(env: Env, status: str) -> None:
    id = await job_id(env, status)
    before = await lifecycle(env, id)
    body = await env.gql(CANCEL, {"id": id, "reason": "Duplicate"}, key="demo.analyze")
    after = await lifecycle(env, id)
    outcome = CANCEL_OUTCOMES[status]
    if outcome == "CONFLICT":
        assert error_codes(body) == ["CONFLICT"]
        assert body["errors"][0]["extensions"]["status"] == status
        assert body["data"] is None
        assert after == before
        return
    assert "errors" not in body, body
    assert body["data"]["cancelJob"] == payload(after)
    if outcome == "UNCHANGED":
        assert after == before
        return
    assert_moved(before, after, status="CANCELLED", actor="analyst@demo", message="Duplicate")
    assert after is not None and after["endDate"] == after["updatedAt"]


@pytest.mark.parametrize("status", STATUSES)
async def test_delete_by_status(env: Env, status: str) -> None:
    id = await job_id(env, status)
    before = await lifecycle(env, id)
    body = await env.gql(DELETE, {"id": id}, key="demo.analyze")
    after = await lifecycle(env, id)
    assert "errors" not in body, body
    assert body["data"]["deleteJob"] == payload(after)
    if DELETE_OUTCOMES[status] == "UNCHANGED":
        assert after == before
        return
    assert_moved(before, after, status="DELETED", actor="analyst@demo", message=None)
    assert before is not None and after is not None and after["endDate"] == before["endDate"]


async def test_delete_jobs_deletes_only_finished_jobs(env: Env) -> None:
    ids = {status: await job_id(env, status) for status in STATUSES}
    before = {status: await lifecycle(env, id) for status, id in ids.items()}
    listed = ", ".join(f'"{id}"' for id in ids.values())
    body = await env.data(DELETE_MANY, {"tql": f"id in ({listed})"}, key="demo.admin")
    assert body["deleteJobs"] == len(FINISHED)
    for status, id in ids.items():
        after = await lifecycle(env, id)
        if status in FINISHED:
            assert_moved(
                before[status], after, status="DELETED", actor="admin@demo", message="bulk delete"
            )
        else:
            assert after == before[status]


async def test_delete_jobs_ands_filter_and_tql_within_the_organization(env: Env) -> None:
    matching = 'status = "SUCCESS" and dataType = "ip"'
    expected = await count_jobs(env, matching)
    acme_before = await count_jobs(env, 'status = "DELETED"', key="acme.read")
    variables = {"filter": {"status": {"eq": "SUCCESS"}}, "tql": 'dataType = "ip"'}
    body = await env.data(DELETE_MANY, variables, key="demo.admin")
    assert body["deleteJobs"] == expected > 0
    assert await count_jobs(env, matching) == 0
    assert await count_jobs(env, 'status = "DELETED"', key="acme.read") == acme_before
    again = await env.data(DELETE_MANY, variables, key="demo.admin")
    assert again["deleteJobs"] == 0


@pytest.mark.parametrize(
    "variables",
    [
        {},
        {"filter": None, "tql": None},
        {"filter": {}},
        {"tql": "  "},
        {"filter": {"and": [{}]}},
        {"filter": {"not": {"or": []}}, "tql": ""},
    ],
)
async def test_delete_jobs_needs_a_condition(env: Env, variables: dict[str, Any]) -> None:
    deleted = await count_jobs(env, 'status = "DELETED"')
    body = await env.gql(DELETE_MANY, variables, key="demo.admin")
    assert error_codes(body) == ["BAD_USER_INPUT"]
    assert body["errors"][0]["extensions"]["argument"] == "filter"
    assert await count_jobs(env, 'status = "DELETED"') == deleted


async def test_delete_jobs_with_a_bad_tql_deletes_nothing(env: Env) -> None:
    deleted = await count_jobs(env, 'status = "DELETED"')
    body = await env.gql(DELETE_MANY, {"tql": "status = "}, key="demo.admin")
    assert error_codes(body) == ["BAD_USER_INPUT"]
    assert await count_jobs(env, 'status = "DELETED"') == deleted


@pytest.mark.parametrize("mutation", ["cancelJob", "deleteJob", "purgeJob"])
async def test_another_organizations_job_is_not_found(env: Env, mutation: str) -> None:
    acme = await job_id(env, "IN_PROGRESS", key="acme.read")
    before = await lifecycle(env, acme, key="acme.admin")
    document, variables = CALLS[mutation]
    theirs = await env.post(document, variables(acme), key="demo.admin")
    unknown = await env.post(document, variables(UNKNOWN_ID), key="demo.admin")
    assert theirs.status_code == unknown.status_code == 200
    assert theirs.content == unknown.content  # byte for byte: nothing tells them apart
    assert error_codes(theirs.json()) == ["NOT_FOUND"]
    assert await lifecycle(env, acme, key="acme.admin") == before


async def test_delete_jobs_never_reaches_another_organization(env: Env) -> None:
    acme = await job_id(env, "SUCCESS", key="acme.read")
    body = await env.data(DELETE_MANY, {"tql": f'id = "{acme}"'}, key="demo.admin")
    assert body["deleteJobs"] == 0
    after = await lifecycle(env, acme, key="acme.admin")
    assert after is not None and after["status"] == "SUCCESS"


@pytest.mark.parametrize("mutation", ["cancelJob", "deleteJob"])
async def test_cancel_and_delete_are_idempotent(env: Env, mutation: str) -> None:
    id = await job_id(env, "WAITING")
    first = await call(env, mutation, id, key="demo.analyze")
    second = await call(env, mutation, id, key="demo.admin")
    assert "errors" not in first and "errors" not in second
    assert first["data"] == second["data"]
    assert len(first["data"][mutation]["events"]) == 2  # submitted, then this one change


async def test_purge_twice_is_not_found_the_second_time(env: Env) -> None:
    id = await job_id(env, "SUCCESS")
    assert (await env.data(PURGE, {"id": id}, key="demo.admin"))["purgeJob"] == id
    assert await lifecycle(env, id) is None
    assert error_codes(await env.gql(PURGE, {"id": id}, key="demo.admin")) == ["NOT_FOUND"]


async def test_the_payload_is_fresh_within_one_request(env: Env) -> None:
    id = await job_id(env, "IN_PROGRESS")
    selection = "{ status events { status } }"
    data = await env.data(
        f"mutation($id: ID!) {{ c: cancelJob(id: $id) {selection} "
        f"d: deleteJob(id: $id) {selection} }}",
        {"id": id},
        key="demo.analyze",
    )
    assert data["c"]["status"] == "CANCELLED"
    assert data["d"]["status"] == "DELETED"
    assert [e["status"] for e in data["d"]["events"]][-2:] == ["CANCELLED", "DELETED"]


async def test_a_mutation_over_get_changes_nothing(env: Env) -> None:
    id = await job_id(env, "WAITING")
    before = await lifecycle(env, id)
    headers = {"Authorization": f"Bearer {KEYS['demo.admin']}", "Accept": "application/json"}
    response = await env.client.get(
        "/graphql",
        params={"query": CANCEL, "variables": json.dumps({"id": id})},
        headers=headers,
    )
    assert 400 <= response.status_code < 500
    assert await lifecycle(env, id) == before
    # The same caller may query over GET: the refusal is about the mutation.
    query = await env.client.get("/graphql", params={"query": "{ me { login } }"}, headers=headers)
    assert query.status_code == 200


async def test_events_name_the_actor_of_each_role(env: Env) -> None:
    ids = await job_ids(env, "WAITING", 2)
    for key, id in zip(("demo.analyze", "demo.admin"), ids, strict=True):
        data = await env.data(CANCEL, {"id": id}, key=key)
        assert data["cancelJob"]["events"][-1]["actor"] == LOGINS[key]
        assert data["cancelJob"]["events"][-1]["message"] is None


async def test_an_overlong_reason_is_refused(env: Env) -> None:
    id = await job_id(env, "WAITING")
    before = await lifecycle(env, id)
    body = await env.gql(CANCEL, {"id": id, "reason": "x" * 1001}, key="demo.analyze")
    assert error_codes(body) == ["BAD_USER_INPUT"]
    assert body["errors"][0]["extensions"]["argument"] == "reason"
    assert await lifecycle(env, id) == before
