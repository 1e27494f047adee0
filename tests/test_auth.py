"""Every GraphQL request needs a valid API key of an unlocked user."""

from __future__ import annotations

import pytest

from tests.support import KEYS, Env

ME = "{ me { login } }"


@pytest.mark.parametrize(
    "authorization",
    [
        None,
        "",
        "Bearer",
        "Bearer ",
        "Basic dXNlcjpwYXNz",
        "Bearer not-a-key",
        "Bearer jq_demoread_wrong-secret",
        "Bearer jq_unknownid_read-key-for-the-demo-organization-only",
        "Bearer " + KEYS["demo.locked"],
        "Bearer " + "jq_" + "a" * 5000,
    ],
)
async def test_bad_credentials_get_401(env: Env, authorization: str | None) -> None:
    headers = {"Authorization": authorization} if authorization is not None else {}
    response = await env.client.post("/graphql", json={"query": ME}, headers=headers)
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"
    body = response.json()
    assert body["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
    assert "data" not in body


async def test_scheme_is_case_insensitive(env: Env) -> None:
    response = await env.client.post(
        "/graphql", json={"query": ME}, headers={"Authorization": "bearer " + KEYS["demo.read"]}
    )
    assert response.json() == {"data": {"me": {"login": "reader@demo"}}}


async def test_get_query_needs_a_key_too(env: Env) -> None:
    response = await env.client.get("/graphql", params={"query": ME})
    assert response.status_code == 401


async def test_get_query_with_a_key(env: Env) -> None:
    response = await env.client.get(
        "/graphql", params={"query": ME}, headers={"Authorization": "Bearer " + KEYS["acme.read"]}
    )
    assert response.json() == {"data": {"me": {"login": "reader@acme"}}}
