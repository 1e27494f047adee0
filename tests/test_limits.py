"""Query-shape limits: each one refuses before execution, in milliseconds, as QUERY_TOO_COMPLEX."""

from __future__ import annotations

import time
from typing import Any

import httpx
import pytest
from strawberry.schema import schema as strawberry_schema

from tests.served import bearer, serve
from tests.support import Env, error_codes

# The limits are checked before the database is reached: SQLite is enough.
pytestmark = pytest.mark.parametrize("backend", ["sqlite"])

# Generous for 2 cores shared with other test runs: the checks take well under a millisecond,
# parsing a document at the token limit about 30 ms.
FAST_SECONDS = 1.0


VALIDATED: list[object] = []  # documents graphql-core's validation was asked to walk


@pytest.fixture(autouse=True)
def _count_validations(monkeypatch: pytest.MonkeyPatch) -> None:
    validate = strawberry_schema.validate

    def counted(schema: Any, document: Any, *args: Any, **kwargs: Any) -> Any:
        VALIDATED.append(document)
        return validate(schema, document, *args, **kwargs)

    monkeypatch.setattr(strawberry_schema, "validate", counted)
    VALIDATED.clear()


async def refused(env: Env, query: str, variables: dict[str, Any] | None = None) -> dict[str, Any]:
    """The error of a query refused before execution: only authentication reached the database,
    and graphql-core's validation (quadratic in places) never saw the document."""
    VALIDATED.clear()
    with env.statements() as seen:
        body = await env.gql(query, variables)
    assert "data" not in body, body
    assert error_codes(body) == ["QUERY_TOO_COMPLEX"], body
    assert len(seen) == 1, seen  # the API key lookup
    assert VALIDATED == []
    error: dict[str, Any] = body["errors"][0]
    return error


def chain(levels: int) -> str:
    """A query `levels` selection sets deep: jobs { nodes { analyzer { lastJob { … } } } }."""
    fields = ["jobs", "nodes"] + ["analyzer", "lastJob"] * levels
    inner = fields[:levels]
    return "{ " + " { ".join(inner) + " { id" + " }" * levels + " }"


async def test_depth(env: Env) -> None:
    assert "errors" not in await env.gql(chain(10))
    assert VALIDATED  # the spy sees a document within the limits being validated
    error = await refused(env, chain(11))
    assert error["extensions"] == {"code": "QUERY_TOO_COMPLEX", "limit": "depth", "maximum": 10}
    assert "10 levels" in error["message"]


async def test_depth_through_fragments(env: Env) -> None:
    query = chain(9).replace("{ id }", "{ ...Deeper }", 1) + " fragment Deeper on Analyzer "
    assert "errors" not in await env.gql(query + "{ lastJob { id } }")  # 10 levels
    await refused(env, query + "{ lastJob { analyzer { id } } }")


async def test_aliases_counted_through_fragments(env: Env) -> None:
    fields = " ".join(f"a{i}: login" for i in range(15))
    ok = f"{{ me {{ ...F }} }} fragment F on Viewer {{ {fields} }}"
    assert "errors" not in await env.gql(ok)
    error = await refused(
        env, ok.replace("{ ...F }", "{ ...F x: login ...G }") + " fragment G on Viewer { ...F }"
    )
    assert error["extensions"]["limit"] == "aliases"


async def test_tokens(env: Env) -> None:
    query = "{ me { " + "login " * 5100 + "} }"
    error = await refused(env, query)
    assert error["extensions"]["limit"] == "parser"
    assert "5000 tokens" in error["message"]


async def test_parser_nesting(env: Env) -> None:
    nested = "{and: [" * 300 + "{}" + "]}" * 300
    error = await refused(env, f"{{ jobs(filter: {nested}) {{ totalCount }} }}")
    assert error["extensions"]["limit"] == "parser"


NESTED = "{ analyzers(first: $outer) { nodes { jobs(first: $inner) { nodes { id } } } } }"


@pytest.mark.parametrize(
    ("outer", "inner", "allowed"),
    [(100, 100, True), (2, 100, True), (None, 100, True), (100, None, True)],
)
async def test_node_budget_allows_two_full_levels(
    env: Env, outer: int | None, inner: int | None, allowed: bool
) -> None:
    query = "query ($outer: Int, $inner: Int) " + NESTED
    body = await env.gql(query, {"outer": outer, "inner": inner})
    assert "errors" not in body


async def test_node_budget_counts_nested_connections_products(env: Env) -> None:
    three = ("{ analyzers(first: 100) { nodes { jobs(first: 100) { nodes { analyzer { "
             "jobs(first: $n) { nodes { id } } } } } } } }")  # fmt: skip
    query = "query ($n: Int) " + three
    # 100 + 100·100 + 100·100·2 = 30,100 > 25,000: the variable counts as the request gives it.
    error = await refused(env, query, {"n": 2})
    assert error["extensions"] == {"code": "QUERY_TOO_COMPLEX", "limit": "nodes", "maximum": 25000}
    assert "30100" in error["message"]
    assert "errors" not in await env.gql(query, {"n": 1})  # 20,100


async def test_node_budget_through_fragments_and_defaults(env: Env) -> None:
    three = " ".join(f"{name}: analyzers(first: 100) {{ nodes {{ ...J }} }}" for name in "abc")
    query = ("query ($n: Int = 100) { " + three + " } "
             "fragment J on Analyzer { jobs(first: $n) { nodes { id } } }")  # fmt: skip
    await refused(env, query)  # 3 · (100 + 10,000)
    assert "errors" not in await env.gql(query, {"n": 50})


async def test_repeated_fields(env: Env) -> None:
    assert "errors" not in await env.gql("{ me { " + "login " * 10 + "} }")
    error = await refused(env, "{ me { " + "login " * 11 + "} }")
    assert error["extensions"]["limit"] == "repeatedFields"
    assert "`me.login`" in error["message"]


async def test_repeats_that_would_make_validation_quadratic_are_cheap(env: Env) -> None:
    # 200 copies took graphql-core's validation half a second; now refused in milliseconds.
    await refused(env, "{ " + "jobs { nodes { id } } " * 200 + "}")
    fragments = "".join(
        f"fragment F{i} on Viewer {{ ...F{i + 1} ...F{i + 1} }} " for i in range(40)
    )
    await refused(env, "{ me { ...F0 } } " + fragments + "fragment F40 on Viewer { login }")


async def test_unused_fragments_are_measured_too(env: Env) -> None:
    # Never executed, but validation would still compare its fields pairwise.
    query = "{ me { login } } fragment Unused on Query { " + "jobs { nodes { id } } " * 50 + "}"
    await refused(env, query)


async def test_expanded_fields(env: Env) -> None:
    fan_out = "".join(f"fragment F{i} on Viewer {{ ...F{i + 1} ...F{i + 1} }} " for i in range(20))
    query = "{ me { ...F0 } } " + fan_out + "fragment F20 on Viewer { login }"
    async with serve(env, max_repeated_fields=10**7) as url, httpx.AsyncClient(base_url=url) as c:
        started = time.perf_counter()
        response = await c.post("/graphql", json={"query": query}, headers=bearer())
        assert time.perf_counter() - started < FAST_SECONDS
    error = response.json()["errors"][0]
    assert error["extensions"]["limit"] == "fields"


async def test_errors_are_capped_and_counted(env: Env) -> None:
    # Analyzer.jobs fails for every job's analyzer, and each failure stays its own error.
    query = '{ jobs(first: 5) { nodes { analyzer { jobs(tql: "nope =") { totalCount } } } } }'
    async with serve(env, max_errors=3) as url, httpx.AsyncClient(base_url=url) as client:
        response = await client.post("/graphql", json={"query": query}, headers=bearer())
    errors = response.json()["errors"]
    assert [e["extensions"]["code"] for e in errors] == ["BAD_USER_INPUT"] * 3 + [
        "QUERY_TOO_COMPLEX"
    ]
    assert errors[-1]["extensions"] == {
        "code": "QUERY_TOO_COMPLEX", "limit": "errors", "maximum": 3, "omitted": 2
    }  # fmt: skip


async def test_page_size(env: Env) -> None:
    body = await env.gql("{ jobs(first: 101) { totalCount } }")
    assert error_codes(body) == ["BAD_USER_INPUT"]


async def test_introspection_is_not_counted_as_depth(env: Env) -> None:
    # GraphiQL's introspection query nests deeper than 10: graphql-core bounds introspection.
    query = ("{ __schema { types { fields { type { ofType { ofType { ofType { ofType { "
             "ofType { ofType { ofType { name } } } } } } } } } } } }")  # fmt: skip
    assert "errors" not in await env.gql(query)
