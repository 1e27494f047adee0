"""A live connection outlives no key: once its key is revoked, or its user locked, a WebSocket
is closed with 4403 and a GraphQL SSE stream ends with an UNAUTHENTICATED error, both within
5 s (the keys are re-checked every 2 s). Real uvicorn, both databases."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable

import httpx
import pytest
from sqlalchemy import update

from app.db.models import users
from tests.live_support import UPDATES, live
from tests.served import bearer, serve
from tests.support import Env

WITHIN_SECONDS = 5
REVOKE = "mutation($id: ID!) { revokeApiKey(id: $id) { id } }"


async def _lock(env: Env) -> None:
    async with env.app.state.db.write() as conn:
        await conn.execute(update(users).where(users.c.login == "analyst@demo").values(locked=True))


async def _revoke(env: Env) -> None:
    # demo.analyze's key, jq_demoanalyze_…: its id is the part after `jq_`.
    await env.data(REVOKE, {"id": "demoanalyze"}, key="demo.admin")


CAUSES: dict[str, Callable[[Env], Awaitable[None]]] = {"locked": _lock, "revoked": _revoke}


@pytest.mark.parametrize("cause", sorted(CAUSES))
async def test_a_websocket_is_closed_with_4403(env: Env, cause: str) -> None:
    async with serve(env) as url, live(url, "demo.analyze") as client:
        await client.subscribe("1", UPDATES)
        await asyncio.sleep(0.3)
        await CAUSES[cause](env)
        code, _ = await asyncio.wait_for(client.closed, WITHIN_SECONDS)
    assert code == 4403


@pytest.mark.parametrize("cause", sorted(CAUSES))
async def test_a_server_sent_events_stream_ends_with_an_error(env: Env, cause: str) -> None:
    headers = {**bearer("demo.analyze"), "Accept": "text/event-stream"}
    async with serve(env) as url, httpx.AsyncClient(base_url=url, timeout=60) as http:
        body = {"query": UPDATES}
        async with http.stream("POST", "/graphql", json=body, headers=headers) as response:
            assert response.status_code == 200
            await asyncio.sleep(0.3)
            await CAUSES[cause](env)
            async with asyncio.timeout(WITHIN_SECONDS):
                lines = [line async for line in response.aiter_lines() if line]
    assert lines[-2:] == ["event: complete", "data: "], lines
    assert lines[-4] == "event: next"
    [error] = json.loads(lines[-3].removeprefix("data: "))["errors"]
    assert error["extensions"]["code"] == "UNAUTHENTICATED", error
    assert error["message"] == "The API key is no longer valid"


async def test_a_stream_of_a_good_key_goes_on(env: Env) -> None:
    """The re-check ends only the revoked key's streams: another key's stays open."""
    headers = {**bearer("demo.read"), "Accept": "text/event-stream"}
    async with serve(env) as url, httpx.AsyncClient(base_url=url, timeout=60) as http:
        body = {"query": UPDATES}
        async with http.stream("POST", "/graphql", json=body, headers=headers) as response:
            await asyncio.sleep(0.3)
            await _revoke(env)
            lines = response.aiter_lines()
            with pytest.raises(TimeoutError):
                async with asyncio.timeout(WITHIN_SECONDS):
                    await anext(lines)
