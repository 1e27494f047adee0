"""Fuzzing a live `jobql serve --demo` with queries and variables generated from the schema:
no answer is a 5xx, none leaks the server's insides, none takes longer than the time budget.

Bounded for CI: 100 valid queries, 40 invalid ones, 30 mutations and 60 hostile variable
sets (230 requests), derandomized so that a run is repeatable; deadlines are off because the
time that matters is the server's, measured per request.
"""

from __future__ import annotations

import string
import time
from collections.abc import Iterator
from datetime import UTC
from pathlib import Path
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis_graphql import Mode, from_schema, mutations, nodes

from app.config import Settings
from tests.live_server import LiveServer, live_server
from tests.test_errors import assert_no_leak

SDL = (Path(__file__).parent.parent / "schema.graphql").read_text()
BUDGET_SECONDS = Settings().request_timeout_seconds
HOSTILE_TEXT = st.text(st.characters(codec="utf-8"), max_size=40) | st.sampled_from(
    ["", "'", '"', "\\", "%", "_", "' OR 1=1 --", "\x00", "now - 99999 years", "a" * 5000,
     "status = 'x' AND (", "🏃" * 10, "../../etc/passwd", "${jndi:ldap://x}"]
)  # fmt: skip
SCALARS = {
    "DateTime": st.datetimes(timezones=st.just(UTC)).map(lambda d: nodes.String(d.isoformat()))
    | HOSTILE_TEXT.map(nodes.String),
    "JSON": HOSTILE_TEXT.map(nodes.String),
}
FUZZ = settings(
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    with live_server(tmp_path_factory.mktemp("fuzz")) as live:
        yield live


@pytest.fixture(scope="module")
def client(server: LiveServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.url, timeout=BUDGET_SECONDS + 5) as client:
        yield client


def check(client: httpx.Client, key: str, body: dict[str, Any]) -> None:
    started = time.perf_counter()
    response = client.post("/graphql", json=body, headers={"Authorization": f"Bearer {key}"})
    elapsed = time.perf_counter() - started
    assert response.status_code < 500, (response.status_code, body, response.text)
    assert elapsed < BUDGET_SECONDS, (elapsed, body)
    assert "INTERNAL_SERVER_ERROR" not in response.text, (body, response.text)
    assert_no_leak(response.text)
    response.json()


def key(server: LiveServer, login: str) -> str:
    return server.demo_keys[login]


@given(st.data())
@settings(FUZZ, max_examples=100)
def test_valid_queries(server: LiveServer, client: httpx.Client, data: st.DataObject) -> None:
    query = data.draw(from_schema(SDL, custom_scalars=SCALARS, allow_x00=False))
    check(client, server.read_key, {"query": query})


@given(st.data())
@settings(FUZZ, max_examples=40)
def test_invalid_queries(server: LiveServer, client: httpx.Client, data: st.DataObject) -> None:
    query = data.draw(from_schema(SDL, custom_scalars=SCALARS, mode=Mode.NEGATIVE))
    check(client, server.read_key, {"query": query})


@given(st.data())
@settings(FUZZ, max_examples=30)
def test_mutations(server: LiveServer, client: httpx.Client, data: st.DataObject) -> None:
    query = data.draw(mutations(SDL, custom_scalars=SCALARS, allow_x00=False))
    admin = server.demo_keys["admin@demo"]
    check(client, admin, {"query": query})


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**63), 2**63) | HOSTILE_TEXT
    | st.floats(allow_nan=False, allow_infinity=False),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(
        st.sampled_from(["and", "or", "not", "eq", "in", "field", "direction", "from", "x"])
        | st.text(string.ascii_letters, max_size=8), inner, max_size=4),
    max_leaves=20,
)  # fmt: skip
OPERATIONS = [
    "query ($f: JobFilter, $t: String, $o: [JobOrder!], $n: Int, $a: String, $d: Boolean!) "
    "{ jobs(filter: $f, tql: $t, orderBy: $o, first: $n, after: $a, includeDeleted: $d) "
    "{ totalCount edges { cursor node { id status analyzer { name } } } pageInfo "
    "{ hasNextPage hasPreviousPage } } }",
    "query ($n: Int, $l: Int, $b: String) { analyzers(last: $l, before: $b) "
    "{ nodes { jobs(first: $n) { totalCount nodes { id } } } } }",
    "query ($id: ID!, $e: Int) { job(id: $id) { id attachment { downloadUrl(expiresIn: $e) } "
    "report { full } events { at } } }",
    "query ($x: TqlEntity!) { tqlFields(entity: $x) { name } }",
]


@given(
    st.sampled_from(OPERATIONS),
    st.dictionaries(st.sampled_from(["f", "t", "o", "n", "a", "d", "l", "b", "id", "e", "x"]),
                    JSON_VALUES, max_size=6),
)  # fmt: skip
@settings(FUZZ, max_examples=60)
def test_hostile_variables(
    server: LiveServer, client: httpx.Client, query: str, variables: dict[str, Any]
) -> None:
    check(client, server.read_key, {"query": query, "variables": variables})
