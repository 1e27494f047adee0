"""The planned executor answers exactly what graphql-core's executor answers, on every shape.

Each request is sent twice to the same app: once as served (the planned executor), once with
graphql-core's standard execution; the two responses must be equal, keys in the same order.
Successful queries must take the planned path; failing ones fall back to the standard one.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

import pytest
from strawberry.schema.schema import StrawberryGraphQLCoreExecutionContext

from app.graphql import executor
from bench.data import Q4_TQL
from bench.data import operation as bench_operation
from tests.support import Env, operation

FRAGMENTS = """
query Frag($withReport: Boolean!, $skipData: Boolean!) {
  first: jobs(first: 7, orderBy: [{field: STATUS}, {field: TLP, direction: DESC}]) {
    __typename
    edges { cursor node { ...Basic report @include(if: $withReport) { success } } }
    nodes { ... on Job { id data @skip(if: $skipData) } }
  }
  again: jobs(first: 3) { totalCount nodes { id analyzer { __typename name lastJob { id } } } }
  me { ...Me }
}
fragment Basic on Job { id status createdAt events { status previousStatus } }
fragment Me on Viewer { login roles }
"""
ERRORS = [
    ('{ jobs(first: 2, after: "not-a-cursor") { nodes { id } } }', {}),
    ("{ jobs(first: 500) { nodes { id } } }", {}),
    ('{ jobs(first: 3, tql: "status = ") { nodes { id } } }', {}),
    ("{ jobs(first: 3) { nodes { id attachment { downloadUrl(expiresIn: 0) } } } }", {}),
    ("{ __schema { queryType { name } } }", {}),
]


@pytest.fixture(autouse=True)
def field_by_field(env: Env) -> None:
    """Compiled queries off: this module tests the executor that answers everything else."""
    env.app.state.graphql.compiled = None


@pytest.fixture
def planned() -> Iterator[list[bool]]:
    """Records, for each execution, whether the planned path answered it."""
    answered: list[bool] = []
    run = executor._Run.execute

    async def execute(self: Any) -> Any:
        try:
            result = await run(self)
        except Exception:
            answered.append(False)
            raise
        answered.append(True)
        return result

    executor._Run.execute = execute  # type: ignore[method-assign]
    yield answered
    executor._Run.execute = run  # type: ignore[method-assign]


def _normal(body: dict[str, Any]) -> str:
    """The response as text, keys in order; signed links differ by their expiry second only."""
    text = json.dumps(body)
    return text if "downloadUrl" not in text else _strip_links(body)


def _strip_links(value: Any) -> Any:
    if isinstance(value, dict):
        return json.dumps(
            {k: "<link>" if k == "downloadUrl" else _strip_links(v) for k, v in value.items()}
        )
    if isinstance(value, list):
        return json.dumps([_strip_links(v) for v in value])
    return value


async def _both(env: Env, query: str, variables: dict[str, Any]) -> tuple[str, str]:
    fast = await env.gql(query, variables)
    standard = StrawberryGraphQLCoreExecutionContext.execute_operation
    original = executor.PlannedExecutor.execute_operation
    executor.PlannedExecutor.execute_operation = standard  # type: ignore[method-assign]
    try:
        reference = await env.gql(query, variables)
    finally:
        executor.PlannedExecutor.execute_operation = original  # type: ignore[method-assign]
    return _normal(fast), _normal(reference)


async def _cases(env: Env) -> list[tuple[str, dict[str, Any]]]:
    page = await env.data("{ jobs(first: 100) { pageInfo { endCursor } nodes { id } } }")
    files = await env.data(
        '{ jobs(first: 5, filter: {dataType: {eq: "file"}, status: {eq: SUCCESS}}) '
        "{ nodes { id createdAt } } }"
    )
    job_id = files["jobs"]["nodes"][0]["id"]
    since = datetime.fromisoformat(files["jobs"]["nodes"][0]["createdAt"]) - timedelta(days=30)
    cursor = page["jobs"]["pageInfo"]["endCursor"]
    return [
        (operation("job_page"), {"first": 30}),
        (operation("job_page"), {"last": 20, "before": cursor}),
        (operation("job_detail"), {"id": job_id}),
        (operation("analyzers"), {"first": 5, "jobs": 3}),
        (bench_operation("q1"), {}),
        (bench_operation("q2"), {"after": cursor}),
        (bench_operation("q3"), {"id": job_id}),
        (bench_operation("q4"), {"tql": Q4_TQL.format(since=since.isoformat())}),
        (FRAGMENTS, {"withReport": True, "skipData": False}),
        (FRAGMENTS, {"withReport": False, "skipData": True}),
        ("{ me { login name organization roles } }", {}),
        ('{ job(id: "nope") { id } me { login } }', {}),
    ]


async def test_planned_results_equal_graphql_cores(env: Env, planned: list[bool]) -> None:
    for query, variables in await _cases(env):
        planned.clear()
        fast, reference = await _both(env, query, variables)
        assert fast == reference, query
        assert "errors" not in fast and planned[:1] == [True], query


@pytest.mark.parametrize("case", range(len(ERRORS)))
async def test_errors_come_from_graphql_cores_executor(
    env: Env, planned: list[bool], case: int
) -> None:
    query, variables = ERRORS[case]
    fast, reference = await _both(env, query, variables)
    assert fast == reference
    assert "__schema" in query or '"errors"' in fast
    assert True not in planned[:1]  # the planned path gave up; the standard one answered
