"""GraphQL-over-HTTP edges: duplicate credentials, operation choice, repeated errors, floods."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from app.ratelimit import RateLimiter
from tests.support import KEYS, Env

TWO = "query A { __typename } query B { __typename }"
BEARER = ("Authorization", f"Bearer {KEYS['demo.read']}")
ACCEPTS = ["application/json", "application/graphql-response+json"]


async def post(env: Env, body: dict[str, Any], accept: str = "application/json") -> httpx.Response:
    return await env.client.post("/graphql", json=body, headers=[BEARER, ("Accept", accept)])


async def test_two_authorization_headers_are_refused(env: Env) -> None:
    other = ("Authorization", f"Bearer {KEYS['acme.admin']}")
    for headers in ([BEARER, other], [BEARER, BEARER]):
        response = await env.client.post(
            "/graphql", json={"query": "{ __typename }"}, headers=headers
        )
        assert response.status_code == 400, response.text
        (error,) = response.json()["errors"]
        assert error["extensions"]["code"] == "BAD_REQUEST"
        assert "one Authorization header" in error["message"]


@pytest.mark.parametrize("accept", ACCEPTS)
async def test_several_operations_need_an_operation_name(env: Env, accept: str) -> None:
    response = await post(env, {"query": TWO}, accept)
    assert response.status_code == (400 if "graphql-response" in accept else 200)
    body = response.json()
    assert "data" not in body  # a request error: nothing ran
    (error,) = body["errors"]
    assert "operationName" in error["message"] and "A, B" in error["message"]
    named = await post(env, {"query": TWO, "operationName": "B"}, accept)
    assert named.json() == {"data": {"__typename": "Query"}}


@pytest.mark.parametrize("accept", ACCEPTS)
async def test_an_unknown_operation_name_says_so(env: Env, accept: str) -> None:
    response = await post(env, {"query": TWO, "operationName": "C"}, accept)
    assert response.status_code == (400 if "graphql-response" in accept else 200)
    (error,) = response.json()["errors"]
    assert error["message"] == "Unknown operation named 'C': the document has A, B"


@pytest.mark.parametrize(
    "query",
    ["{ __typename " + "@nope " * 10 + "}", "{ __typename " + "@include(if: true) " * 700 + "}"],
)
async def test_repeated_identical_validation_errors_come_back_once(env: Env, query: str) -> None:
    body = (await post(env, {"query": query})).json()
    messages = [e["message"] for e in body["errors"]]
    assert len(messages) == len(set(messages)), messages  # each said once…
    first = body["errors"][0]
    assert first["message"].startswith(("Unknown directive '@nope'", "The directive '@include'"))
    assert len(first["locations"]) >= 10  # …at every place it applies
    # graphql-core stops validating after 100 errors, and says so in a second error.
    assert messages[1:] in (
        [],
        ["Too many validation errors, error limit reached. Validation aborted."],
    )


async def test_requests_without_a_valid_key_are_limited_per_address(env: Env) -> None:
    """Past the burst, an address sending bad keys gets 429; another address and good keys
    are not affected."""
    app = env.app
    endpoint = app.state.graphql
    endpoint.refused = RateLimiter(per_second=0.001, burst=3)

    async def send(address: str, key: str | None) -> int:
        transport = httpx.ASGITransport(app=app, client=(address, 5000))
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        async with httpx.AsyncClient(transport=transport, base_url="http://jobql.test") as c:
            response = await c.post("/graphql", json={"query": "{ me { login } }"}, headers=headers)
        if response.status_code == 429:
            assert int(response.headers["retry-after"]) >= 1
            assert response.json()["errors"][0]["extensions"]["code"] == "RATE_LIMITED"
        return response.status_code

    flood = [await send("198.51.100.1", "jq_nope_wrong") for _ in range(3)]
    flood += [await send("198.51.100.1", None) for _ in range(2)]
    assert flood == [401, 401, 401, 429, 429]
    assert await send("198.51.100.2", None) == 401
    assert await send("198.51.100.1", KEYS["demo.read"]) == 200


def test_the_refused_limiter_forgets_refilled_addresses() -> None:
    clock = [0.0]
    limiter = RateLimiter(per_second=1, burst=2, clock=lambda: clock[0], max_buckets=100)
    for n in range(100):
        limiter.take(f"10.0.0.{n}")
    clock[0] += 5  # every bucket refilled
    limiter.take("10.0.1.1")
    assert len(limiter) == 1


@pytest.mark.parametrize("method", ["PUT", "DELETE", "PATCH", "HEAD", "OPTIONS"])
async def test_other_methods_are_405_in_graphql_form(env: Env, method: str) -> None:
    response = await env.client.request(method, "/graphql", headers=dict([BEARER]))
    assert response.status_code == 405
    assert response.headers["allow"] == "GET, POST"
    if method != "HEAD":  # a HEAD answer has no body
        assert response.json()["errors"][0]["extensions"]["code"] == "METHOD_NOT_ALLOWED"
