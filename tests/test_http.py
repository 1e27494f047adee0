"""GraphQL over HTTP through a real uvicorn: media types, methods, status codes, request limits."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator

import httpx
import pytest

from tests.served import bearer, raw_request, serve
from tests.support import Env

# HTTP rules do not depend on the database: SQLite is enough.
pytestmark = pytest.mark.parametrize("backend", ["sqlite"])

ME = "{ me { login } }"
GRAPHQL_RESPONSE = "application/graphql-response+json"


@pytest.fixture
async def http(env: Env) -> AsyncIterator[httpx.AsyncClient]:
    async with serve(env) as url, httpx.AsyncClient(base_url=url) as client:
        yield client


def codes(response: httpx.Response) -> list[str]:
    return [e["extensions"]["code"] for e in response.json()["errors"]]


async def test_post_json_answers_json_with_no_server_banner(http: httpx.AsyncClient) -> None:
    response = await http.post("/graphql", json={"query": ME}, headers=bearer())
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json; charset=utf-8"
    assert response.json() == {"data": {"me": {"login": "reader@demo"}}}
    assert "server" not in response.headers


@pytest.mark.parametrize(
    ("accept", "media_type"),
    [
        (None, "application/json"),
        ("*/*", "application/json"),
        ("application/json", "application/json"),
        (GRAPHQL_RESPONSE, GRAPHQL_RESPONSE),
        (f"{GRAPHQL_RESPONSE}, application/json;q=0.9", GRAPHQL_RESPONSE),
        (f"application/json, {GRAPHQL_RESPONSE};q=0.5", "application/json"),
    ],
)
async def test_media_type_follows_accept(
    http: httpx.AsyncClient, accept: str | None, media_type: str
) -> None:
    headers = bearer() | ({"Accept": accept} if accept else {})
    response = await http.post("/graphql", json={"query": ME}, headers=headers)
    assert response.status_code == 200
    assert response.headers["content-type"] == f"{media_type}; charset=utf-8"


async def test_unacceptable_accept_is_406(http: httpx.AsyncClient) -> None:
    headers = bearer() | {"Accept": "text/plain"}
    response = await http.post("/graphql", json={"query": ME}, headers=headers)
    assert response.status_code == 406
    assert codes(response) == ["NOT_ACCEPTABLE"]


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({"query": "{ me { login "}, "GRAPHQL_PARSE_FAILED"),
        ({"query": "{ me { nope } }"}, "GRAPHQL_VALIDATION_FAILED"),
        ({"query": "query ($id: ID!) { job(id: $id) { id } }", "variables": {}}, "BAD_USER_INPUT"),
        ({"query": "{" * 3 + "me { login }" + "}" * 3}, "GRAPHQL_PARSE_FAILED"),
    ],
)
async def test_request_errors_have_no_data_and_their_status_by_media_type(
    http: httpx.AsyncClient, body: dict[str, object], code: str
) -> None:
    as_json = await http.post("/graphql", json=body, headers=bearer())
    assert as_json.status_code == 200
    assert "data" not in as_json.json()
    assert codes(as_json)[0] == code
    strict = await http.post("/graphql", json=body, headers=bearer() | {"Accept": GRAPHQL_RESPONSE})
    assert strict.status_code == 400
    assert "data" not in strict.json()
    assert codes(strict)[0] == code


async def test_field_errors_keep_data_and_200_in_both_media_types(http: httpx.AsyncClient) -> None:
    query = '{ me { login } jobs(tql: "nope =") { totalCount } }'
    for accept in ("application/json", GRAPHQL_RESPONSE):
        response = await http.post(
            "/graphql", json={"query": query}, headers=bearer() | {"Accept": accept}
        )
        assert response.status_code == 200
        body = response.json()
        assert body["data"] is None or body["data"].get("me") == {"login": "reader@demo"}
        assert codes(response) == ["BAD_USER_INPUT"]


async def test_get_serves_queries_with_variables(http: httpx.AsyncClient) -> None:
    params = {"query": "query Me($n: Int) { jobs(first: $n) { nodes { id } } }",
              "variables": json.dumps({"n": 2}), "operationName": "Me"}  # fmt: skip
    response = await http.get("/graphql", params=params, headers=bearer())
    assert response.status_code == 200
    assert len(response.json()["data"]["jobs"]["nodes"]) == 2


async def test_get_refuses_mutations_with_405_and_allow(http: httpx.AsyncClient) -> None:
    for query in ("mutation { __typename }", 'mutation { deleteJob(id: "x") { id } }'):
        response = await http.get("/graphql", params={"query": query}, headers=bearer("demo.admin"))
        assert response.status_code == 405
        assert response.headers["allow"] == "POST"
        assert codes(response) == ["METHOD_NOT_ALLOWED"]


async def test_get_picks_the_named_operation_before_refusing(http: httpx.AsyncClient) -> None:
    query = "query Q { __typename } mutation M { __typename }"
    ok = await http.get("/graphql", params={"query": query, "operationName": "Q"}, headers=bearer())
    assert ok.status_code == 200
    refused = await http.get(
        "/graphql", params={"query": query, "operationName": "M"}, headers=bearer()
    )
    assert refused.status_code == 405


@pytest.mark.parametrize("method", ["PUT", "DELETE", "PATCH"])
async def test_other_methods_are_405(http: httpx.AsyncClient, method: str) -> None:
    response = await http.request(method, "/graphql", json={"query": ME}, headers=bearer())
    assert response.status_code == 405
    assert set(response.headers["allow"].replace(" ", "").split(",")) >= {"GET", "POST"}


@pytest.mark.parametrize(
    "content_type",
    [
        None,
        "text/plain",
        "application/x-www-form-urlencoded",
        "multipart/form-data; boundary=x",
        "application/graphql",
        "application/json; charset=latin-1",
    ],  # fmt: skip
)
async def test_only_json_bodies_are_accepted(
    http: httpx.AsyncClient, content_type: str | None
) -> None:
    # A cross-site form can send the three "simple" types without a preflight: none may run.
    headers = bearer() | ({"Content-Type": content_type} if content_type else {})
    response = await http.post("/graphql", content=json.dumps({"query": ME}), headers=headers)
    assert response.status_code == 415
    assert codes(response) == ["UNSUPPORTED_MEDIA_TYPE"]


@pytest.mark.parametrize(
    ("body", "needle"),
    [
        (b"", "empty"),
        (b'{"query": "{ me { login } }"', "not valid JSON"),
        (b'{"query": "\xff\xfe"}', "not valid JSON"),
        (b"[" * 5000 + b"]" * 5000, "not valid JSON"),
        (b'[{"query": "{ me { login } }"}]', "Batched requests are not supported"),
        (b'"{ me { login } }"', "JSON object"),
        (b'{"query": 1}', "`query`"),
        (b'{"qeury": "{ me { login } }"}', "`query`"),
        (b'{"query": "{ me { login } }", "variables": "x"}', "`variables`"),
        (b'{"query": "{ me { login } }", "variables": [1]}', "`variables`"),
        (b'{"query": "{ me { login } }", "extensions": false}', "`extensions`"),
        (b'{"query": "{ me { login } }", "operationName": 0}', "`operationName`"),
        (
            b'{"query": "{ me { login } }", "variables": {"a": ' + b"[" * 100 + b"]" * 100 + b"}}",
            "nested more than 64",
        ),  # fmt: skip
    ],
)
async def test_malformed_requests_are_400_never_500(
    http: httpx.AsyncClient, body: bytes, needle: str
) -> None:
    headers = bearer() | {"Content-Type": "application/json"}
    response = await http.post("/graphql", content=body, headers=headers)
    assert response.status_code == 400, response.text
    assert codes(response) == ["BAD_REQUEST"]
    assert needle in response.json()["errors"][0]["message"]


async def test_null_parameters_are_allowed(http: httpx.AsyncClient) -> None:
    body = {"query": ME, "variables": None, "operationName": None, "extensions": None}
    response = await http.post("/graphql", json=body, headers=bearer())
    assert response.json() == {"data": {"me": {"login": "reader@demo"}}}


async def test_401_carries_www_authenticate_and_no_suggestions(http: httpx.AsyncClient) -> None:
    # Unauthenticated callers never reach validation, so they get no "Did you mean" hints.
    response = await http.post("/graphql", json={"query": "{ jobz { id } }"})
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"
    assert codes(response) == ["UNAUTHENTICATED"]
    assert "Did you mean" not in response.text


async def test_explorer_only_for_browsers_without_a_query(http: httpx.AsyncClient) -> None:
    page = await http.get("/graphql", headers={"Accept": "text/html"})
    assert page.headers["content-type"].startswith("text/html")
    query = await http.get("/graphql", params={"query": ME}, headers={"Accept": "text/html"})
    assert query.status_code == 401  # a GET with a query is an API call, key required


async def test_body_over_the_limit_is_413_announced_or_streamed(env: Env) -> None:
    async with serve(env, max_body_bytes=2048) as url, httpx.AsyncClient(base_url=url) as client:
        big = json.dumps({"query": ME, "variables": {"pad": "x" * 4096}}).encode()
        headers = bearer() | {"Content-Type": "application/json"}
        announced = await client.post("/graphql", content=big, headers=headers)
        assert announced.status_code == 413
        assert codes(announced) == ["PAYLOAD_TOO_LARGE"]

        async def chunks() -> AsyncIterator[bytes]:  # chunked: no Content-Length to trust
            for start in range(0, len(big), 512):
                yield big[start : start + 512]

        streamed = await client.post("/graphql", content=chunks(), headers=headers)
        assert streamed.status_code == 413
        small = await client.post("/graphql", json={"query": ME}, headers=bearer())
        assert small.status_code == 200


async def test_head_over_the_limit_is_431(env: Env) -> None:
    async with serve(env, max_header_bytes=4096) as url:
        head = b"POST /graphql HTTP/1.1\r\nHost: x\r\nX-Pad: " + b"a" * 100_000 + b"\r\n\r\n"
        answer = await raw_request(url, head)
        assert answer.startswith(b"HTTP/1.1 431 ")
        # A single line far larger than a read, refused before it ends.
        endless = b"POST /graphql HTTP/1.1\r\nHost: x\r\nX-Pad: " + b"a" * 3_000_000
        assert (await raw_request(url, endless)).startswith(b"HTTP/1.1 431 ")
        async with httpx.AsyncClient(base_url=url) as client:  # normal heads still pass
            response = await client.post("/graphql", json={"query": ME}, headers=bearer())
            assert response.status_code == 200


async def test_slow_head_is_408(env: Env) -> None:
    async with serve(env, header_timeout_seconds=0.5) as url:
        host, port = url.removeprefix("http://").split(":")
        reader, writer = await asyncio.open_connection(host, int(port))
        writer.write(b"POST /graphql HTTP/1.1\r\nHost: x\r\n")  # and then nothing
        answer = await asyncio.wait_for(reader.read(4096), 5)
        writer.close()
        assert answer.startswith(b"HTTP/1.1 408 ")


async def test_slow_body_is_408_within_the_request_budget(env: Env) -> None:
    async with serve(env, request_timeout_seconds=1.0, statement_timeout_ms=500,
                     pool_timeout_seconds=0.2) as url:  # fmt: skip
        host, port = url.removeprefix("http://").split(":")
        reader, writer = await asyncio.open_connection(host, int(port))
        token = bearer()["Authorization"].encode()
        writer.write(b"POST /graphql HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                     b"Authorization: " + token + b"\r\nContent-Length: 100\r\n\r\n{")  # fmt: skip
        answer = await asyncio.wait_for(reader.read(4096), 5)
        writer.close()
        assert answer.startswith(b"HTTP/1.1 408 ")
        assert b"REQUEST_TIMEOUT" in answer


async def test_the_full_introspection_query_answers_without_errors(env: Env) -> None:
    """What GraphiQL and codegen send first. A JSON default (`parameters: JSON = {}`) once
    made graphql-core fail to print it: an INTERNAL_SERVER_ERROR at its `defaultValue`."""
    from graphql import get_introspection_query

    body = await env.gql(get_introspection_query())
    assert "errors" not in body, body["errors"]
    submit = next(t for t in body["data"]["__schema"]["types"] if t["name"] == "SubmitJobInput")
    defaults = {f["name"]: f["defaultValue"] for f in submit["inputFields"]}
    assert defaults["parameters"] == "{  }" and defaults["tlp"] == "2"
