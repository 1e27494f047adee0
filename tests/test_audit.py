"""The audit trail: every destructive or administrative act leaves one event, in its own
transaction, and the event outlives what it names."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from app.db.models import audit_events
from tests.mutation_support import PURGE, database, job_ids
from tests.queue_support import UPDATE_ANALYZER, new_analyzer, submit
from tests.support import Env, error_codes

DELETE = "mutation($t: String!) { deleteJobs(tql: $t) }"
CANCEL = 'mutation($t: String!) { cancelJobs(tql: $t, reason: "cleanup") }'


async def events(env: Env, organization: str = "demo") -> list[Any]:
    query = (
        select(audit_events)
        .where(audit_events.c.organization_id == organization)
        .order_by(audit_events.c.id)
    )
    async with database(env).read() as conn:
        return list(await conn.execute(query))


async def test_a_purge_is_audited_and_its_event_outlives_the_job(env: Env) -> None:
    [job_id] = await job_ids(env, "SUCCESS")
    assert (await env.data(PURGE, {"id": job_id}, key="demo.admin"))["purgeJob"] == job_id
    assert (await env.data("query($id: ID!) { job(id: $id) { id } }", {"id": job_id}))[
        "job"
    ] is None
    [event] = await events(env)
    assert (event.actor, event.action, event.target, event.count) == (
        "admin@demo",
        "PURGE_JOB",
        job_id,
        1,
    )
    assert event.details["status"] == "SUCCESS" and event.details["analyzer"]
    assert await events(env, "acme") == []


async def test_a_refused_act_leaves_no_event(env: Env) -> None:
    body = await env.gql(PURGE, {"id": "no-such-job"}, key="demo.admin")
    assert error_codes(body) == ["NOT_FOUND"]
    [acme_job] = await job_ids(env, "SUCCESS", key="acme.read")
    body = await env.gql(PURGE, {"id": acme_job}, key="demo.admin")  # another organization's
    assert error_codes(body) == ["NOT_FOUND"]
    body = await env.gql(DELETE, {"t": 'status = "SUCCESS"'}, key="demo.analyze")
    assert error_codes(body) == ["FORBIDDEN"]
    assert await events(env) == [] and await events(env, "acme") == []


async def test_bulk_delete_is_audited_with_its_condition_and_count(env: Env) -> None:
    tql = 'status = "FAILURE"'
    deleted = (await env.data(DELETE, {"t": tql}, key="demo.admin"))["deleteJobs"]
    assert deleted > 0
    again = (await env.data(DELETE, {"t": tql}, key="demo.admin"))["deleteJobs"]
    first, second = await events(env)
    assert (first.action, first.actor, first.count) == ("DELETE_JOBS", "admin@demo", deleted)
    assert first.details == {"filter": None, "tql": tql}
    assert (second.count, again) == (0, 0)  # an act that matched nothing is still an act
    typed = "mutation { deleteJobs(filter: {status: {in: [TIMEOUT]}}) }"
    await env.data(typed, key="demo.admin")
    assert (await events(env))[-1].details == {
        "filter": {"status": {"in": ["TIMEOUT"]}},
        "tql": None,
    }


async def test_bulk_cancel_is_audited(env: Env) -> None:
    analyzer = await new_analyzer(env)
    for i in range(2):
        await submit(env, analyzer, data=f"192.0.2.{i}")
    tql = f'analyzerId = "{analyzer}"'
    assert (await env.data(CANCEL, {"t": tql}, key="demo.admin"))["cancelJobs"] == 2
    [event] = await events(env)
    assert (event.action, event.count) == ("CANCEL_JOBS", 2)
    assert event.details == {"filter": None, "tql": tql, "reason": "cleanup"}


async def test_update_analyzer_is_audited_with_before_and_after(env: Env) -> None:
    analyzer = await new_analyzer(env)
    settings = {"maxAttempts": 3, "enabled": False}
    await env.data(UPDATE_ANALYZER, {"id": analyzer, "settings": settings}, key="demo.admin")
    [event] = await events(env)
    assert (event.action, event.target, event.actor) == ("UPDATE_ANALYZER", analyzer, "admin@demo")
    assert event.details["before"] == {"max_attempts": 1, "enabled": True}
    assert event.details["after"] == {"max_attempts": 3, "enabled": False}
    body = await env.gql(
        UPDATE_ANALYZER, {"id": analyzer, "settings": {"maxAttempts": 99}}, key="demo.admin"
    )
    assert error_codes(body) == ["BAD_USER_INPUT"]
    assert len(await events(env)) == 1  # the refused change left nothing
