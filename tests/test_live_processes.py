"""Live updates across real processes: two `jobql serve` on one database, a LISTEN
connection killed while transitions happen, and a server restarted under a subscriber."""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import text

from tests.live_support import live
from tests.queue_support import new_analyzer
from tests.served import bearer, serve
from tests.support import Env
from tests.test_queue_races import serving

SUBMIT = """
mutation Submit($inputs: [SubmitJobInput!]!) {
  submitJobs(inputs: $inputs) { index result { job { id } } error { code message } }
}
"""
BY_ANALYZER = """
subscription ($after: String, $analyzers: [ID!]) {
  jobUpdates(after: $after, analyzerIds: $analyzers) { cursor event { jobId status } }
}
"""


async def _submit(url: str, analyzer: str, first: int, count: int) -> list[str]:
    """`count` jobs (one WAITING event each), in batches of 100: their ids in order."""
    ids: list[str] = []
    async with httpx.AsyncClient(base_url=url, timeout=30) as http:
        for start in range(first, first + count, 100):
            inputs = [
                {"analyzerId": analyzer, "dataType": "ip", "data": f"10.0.{n // 250}.{n % 250}"}
                for n in range(start, min(start + 100, first + count))
            ]
            response = await http.post(
                "/graphql",
                json={"query": SUBMIT, "variables": {"inputs": inputs}},
                headers=bearer("demo.analyze"),
            )
            results = response.json()["data"]["submitJobs"]
            assert all(r["error"] is None for r in results), results
            ids += [r["result"]["job"]["id"] for r in results]
    return ids


async def _collect(client: Any, op: str, count: int, got: list[dict[str, Any]]) -> None:
    while len(got) < count:
        got.append((await client.data(op, timeout=60))["jobUpdates"])


async def test_subscribe_on_one_server_mutate_on_the_other(env: Env, tmp_path: Path) -> None:
    analyzer = await new_analyzer(env)
    with serving(env, tmp_path, 2) as (urls, _):
        async with live(urls[0]) as client:
            await client.subscribe("1", BY_ANALYZER, {"analyzers": [analyzer]})
            await asyncio.sleep(0.5)
            ids = await _submit(urls[1], analyzer, 0, 20)
            got: list[dict[str, Any]] = []
            await asyncio.wait_for(_collect(client, "1", 20, got), 60)
    assert [u["event"]["jobId"] for u in got] == ids
    assert {u["event"]["status"] for u in got} == {"WAITING"}


async def _kill_listener(env: Env) -> int:
    async with env.app.state.db.engine.connect() as conn:
        killed = await conn.execute(
            text(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE application_name = 'jobql-listener' AND datname = current_database()"
            )
        )
        return len(killed.all())


async def test_the_listener_killed_twice_loses_nothing(env: Env) -> None:
    if env.backend != "postgres":
        pytest.skip("LISTEN/NOTIFY is PostgreSQL's")
    analyzer = await new_analyzer(env)
    hub = env.app.state.hub
    async with serve(env) as url, live(url) as client:
        await client.subscribe("1", BY_ANALYZER, {"analyzers": [analyzer]})
        await _until(lambda: hub.listener.connected)
        got: list[dict[str, Any]] = []
        reading = asyncio.create_task(_collect(client, "1", 500, got))
        ids = await _submit(url, analyzer, 0, 150)
        assert await _kill_listener(env) == 1
        ids += await _submit(url, analyzer, 150, 200)
        await _until(lambda: hub.listener.connected)
        assert await _kill_listener(env) == 1
        ids += await _submit(url, analyzer, 350, 150)
        await asyncio.wait_for(reading, 120)
    assert [u["event"]["jobId"] for u in got] == ids  # all 500, in order, once each
    assert hub.listener.connects >= 3  # it noticed both deaths and came back


async def _until(condition: Any, seconds: float = 30) -> None:
    async with asyncio.timeout(seconds):
        while not condition():
            await asyncio.sleep(0.05)


async def test_a_client_resumes_after_a_server_restart_with_exactly_what_it_missed(
    env: Env, tmp_path: Path
) -> None:
    analyzer = await new_analyzer(env)
    got: list[dict[str, Any]] = []
    for name in ("a", "b"):
        (tmp_path / name).mkdir()
    with serving(env, tmp_path / "a", 1) as (urls, processes):
        async with live(urls[0]) as client:
            await client.subscribe("1", BY_ANALYZER, {"analyzers": [analyzer]})
            await asyncio.sleep(0.5)
            ids = await _submit_here(env, analyzer, 0, 30)
            await asyncio.wait_for(_collect(client, "1", 10, got), 60)
            processes[0].terminate()  # the server goes while transitions go on
            writing = asyncio.create_task(_submit_here(env, analyzer, 30, 50))
            with contextlib.suppress(Exception):
                await asyncio.wait_for(client.closed, 30)
            ids += await writing
    got = got[:10]  # what the client had taken when its server went
    with serving(env, tmp_path / "b", 1) as (urls, _):
        async with live(urls[0]) as client:
            await client.subscribe(
                "2", BY_ANALYZER, {"after": got[-1]["cursor"], "analyzers": [analyzer]}
            )
            await asyncio.wait_for(_collect(client, "2", 80, got), 60)
            await client.nothing("2", 0.5)
    assert [u["event"]["jobId"] for u in got] == ids  # every event once, in order


async def _submit_here(env: Env, analyzer: str, first: int, count: int) -> list[str]:
    """Submissions by another writer than the server under test: this test's own app."""
    ids = []
    for n in range(first, first + count):
        inputs = [{"analyzerId": analyzer, "dataType": "ip", "data": f"10.1.0.{n}"}]
        body = await env.data(SUBMIT, {"inputs": inputs}, key="demo.analyze")
        ids.append(body["submitJobs"][0]["result"]["job"]["id"])
        await asyncio.sleep(0.01)
    return ids
