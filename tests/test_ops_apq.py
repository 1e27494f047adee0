"""Automatic persisted queries (Apollo's protocol) through HTTP, as Apollo's link speaks it:
hash alone first, then hash and text when the server does not know the hash."""

from __future__ import annotations

import hashlib
import json
from typing import Any

import httpx
import pytest

from app.persisted import PersistedQueries
from tests.support import KEYS, Env

JOBS = "query RecentJobs { jobs(first: 2) { edges { node { id } } } }"
HASH = hashlib.sha256(JOBS.encode()).hexdigest()
BEARER = {"Authorization": f"Bearer {KEYS['demo.read']}"}


def extensions(digest: str = HASH, version: int = 1) -> dict[str, Any]:
    return {"persistedQuery": {"version": version, "sha256Hash": digest}}


async def post(env: Env, body: dict[str, Any], **headers: str) -> httpx.Response:
    return await env.client.post("/graphql", json=body, headers={**BEARER, **headers})


@pytest.mark.parametrize("accept", ["application/json", "application/graphql-response+json"])
async def test_unknown_hash_then_text_then_hash_alone(env: Env, accept: str) -> None:
    first = await post(env, {"extensions": extensions()}, Accept=accept)
    assert first.status_code == (400 if "graphql-response" in accept else 200)
    assert first.json() == {
        "errors": [
            {
                "message": "PersistedQueryNotFound",
                "extensions": {"code": "PERSISTED_QUERY_NOT_FOUND"},
            }
        ]
    }
    with env.statements() as seen:
        await post(env, {"extensions": extensions()}, Accept=accept)
    assert len(seen) == 1  # the key lookup: an unknown hash costs nothing more

    registered = await post(env, {"query": JOBS, "extensions": extensions()}, Accept=accept)
    assert registered.status_code == 200
    expected = registered.json()
    assert len(expected["data"]["jobs"]["edges"]) == 2

    by_hash = await post(env, {"extensions": extensions()}, Accept=accept)
    assert by_hash.json() == expected
    query = {"extensions": json.dumps(extensions()), "operationName": "RecentJobs"}
    over_get = await env.client.get("/graphql", params=query, headers=BEARER)
    assert over_get.status_code == 200 and over_get.json() == expected


async def test_a_wrong_hash_is_refused_and_not_stored(env: Env) -> None:
    other = hashlib.sha256(b"{ me { login } }").hexdigest()
    wrong = await post(env, {"query": JOBS, "extensions": extensions(other)})
    assert wrong.json()["errors"][0]["message"] == "provided sha does not match query"
    assert "data" not in wrong.json()
    later = await post(env, {"extensions": extensions(other)})
    assert later.json()["errors"][0]["extensions"]["code"] == "PERSISTED_QUERY_NOT_FOUND"


@pytest.mark.parametrize(
    "ext",
    [
        extensions(version=2),
        extensions(digest="ABC"),
        extensions(digest=HASH.upper()),
        {"persistedQuery": "yes"},
    ],
)
async def test_a_malformed_persisted_query_is_400(env: Env, ext: dict[str, Any]) -> None:
    response = await post(env, {"extensions": ext})
    assert response.status_code == 400
    assert response.json()["errors"][0]["extensions"]["code"] == "BAD_REQUEST"


async def test_without_a_key_nothing_is_stored(env: Env) -> None:
    response = await env.client.post("/graphql", json={"query": JOBS, "extensions": extensions()})
    assert response.status_code == 401
    assert len(env.app.state.graphql.persisted) == 0


async def test_one_organization_stores_a_document_another_runs_it_as_itself(env: Env) -> None:
    """The store holds texts, not answers: a hash another key registered runs as the caller."""
    demo = await post(env, {"query": JOBS, "extensions": extensions()})
    acme = await env.client.post(
        "/graphql",
        json={"extensions": extensions()},
        headers={"Authorization": f"Bearer {KEYS['acme.read']}"},
    )
    demo_ids = {e["node"]["id"] for e in demo.json()["data"]["jobs"]["edges"]}
    acme_ids = {e["node"]["id"] for e in acme.json()["data"]["jobs"]["edges"]}
    assert acme_ids and not demo_ids & acme_ids


def test_the_store_is_bounded_least_recently_used_first() -> None:
    from app.transport import JSON, Params

    store = PersistedQueries(max_entries=2)
    texts = [f"{{ q{n}: __typename }}" for n in range(3)]
    digests = [hashlib.sha256(t.encode()).hexdigest() for t in texts]

    def send(n: int, with_text: bool) -> str:
        ext = extensions(digests[n])
        return store.resolve(Params(texts[n] if with_text else "", None, None, ext), JSON).query

    send(0, True)
    send(1, True)
    assert send(0, False) == texts[0]  # 0 is now the most recent
    send(2, True)  # 1 goes
    assert len(store) == 2 and send(0, False) == texts[0] and send(2, False) == texts[2]
    with pytest.raises(Exception, match="PersistedQueryNotFound"):
        send(1, False)
