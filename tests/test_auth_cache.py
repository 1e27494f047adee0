"""The principal cache: a checked key skips the database for `auth_cache_seconds`, no longer."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import httpx
import pytest
from sqlalchemy import update

from app.db.models import users
from app.main import create_app
from tests.support import KEYS, Env, count_statements

TTL = 0.5
QUERY = {"query": "{ me { login } }"}


@pytest.fixture
async def cached(env: Env) -> AsyncIterator[httpx.AsyncClient]:
    """A second app over the test's database, with the cache on."""
    app = create_app(env.settings.model_copy(update={"auth_cache_seconds": TTL}))
    transport = httpx.ASGITransport(app=app)
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://jobql.test") as client:
            client.app = app  # type: ignore[attr-defined]
            yield client
    finally:
        await app.state.db.dispose()


async def _me(client: httpx.AsyncClient, key: str) -> httpx.Response:
    return await client.post("/graphql", json=QUERY, headers={"Authorization": f"Bearer {key}"})


async def test_a_checked_key_skips_the_database(cached: httpx.AsyncClient) -> None:
    db = cached.app.state.db  # type: ignore[attr-defined]
    counts = []
    for _ in range(2):
        with count_statements(db) as seen:
            assert (await _me(cached, KEYS["demo.read"])).status_code == 200
        counts.append(len(seen))
    assert counts == [1, 0]  # `me` reads nothing else: the first request's one is the key


async def test_a_locked_user_is_refused_once_the_ttl_has_passed(
    env: Env, cached: httpx.AsyncClient
) -> None:
    assert (await _me(cached, KEYS["demo.analyze"])).status_code == 200
    async with env.engine.begin() as conn:
        await conn.execute(update(users).where(users.c.login == "analyst@demo").values(locked=True))
    assert (await env.post("{ me { login } }", key="demo.analyze")).status_code == 401
    assert (await _me(cached, KEYS["demo.analyze"])).status_code == 200  # within the TTL
    await asyncio.sleep(TTL + 0.1)
    assert (await _me(cached, KEYS["demo.analyze"])).status_code == 401


async def test_a_wrong_secret_is_never_served_from_the_cache(cached: httpx.AsyncClient) -> None:
    assert (await _me(cached, KEYS["demo.read"])).status_code == 200
    key_id = KEYS["demo.read"].split("_")[1]
    assert (await _me(cached, f"jq_{key_id}_not-the-secret")).status_code == 401
