"""Compiled queries answer exactly what field-by-field execution answers.

Each request is sent twice to the same app over HTTP: as served (compiled when it can be), then
with compiled queries off; the two response bodies must be byte-equal. Every case of COMPILED
must take the compiled path, every case of DECLINED must not; errors always come from the
executor.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from app.graphql.compiled import CompiledQueries
from app.main import create_app
from bench.data import Q4_TQL
from bench.data import operation as bench_operation
from tests.served import twin
from tests.support import KEYS, Env, count_statements, error_codes, operation
from tests.test_errors import lock_jobs

JOB_FIELDS = """
  id organization analyzerId analyzerName analyzerDefinitionId dataType status data
  parameters message tlp pap startDate endDate createdAt createdBy updatedAt updatedBy
"""
EVERYTHING = f"""
fragment Everything on Job {{
  {JOB_FIELDS} __typename
  analyzer {{
    __typename id name definitionId version description author license url dataTypes maxTlp
    jobCacheMinutes enabled createdAt
  }}
  attachment {{ __typename id name size contentType sha256 sha1 md5 hashes }}
  report {{
    __typename success errorMessage createdAt full
    summary {{ __typename taxonomies {{ __typename level namespace predicate value }} }}
    artifacts {{ __typename dataType data tlp message tags }}
  }}
  events {{ __typename at status previousStatus actor message }}
}}
"""
PAGE = (
    """
query Page($first: Int, $after: String, $last: Int, $before: String, $orderBy: [JobOrder!],
           $filter: JobFilter, $tql: String, $deleted: Boolean) {
  __typename
  jobs(first: $first, after: $after, last: $last, before: $before, orderBy: $orderBy,
       filter: $filter, tql: $tql, includeDeleted: $deleted) {
    __typename
    total: totalCount
    edges { __typename cursor node { ...Everything } }
    pageInfo { __typename hasNextPage hasPreviousPage startCursor endCursor }
    nodes { id  status stamp: createdAt }
  }
}
"""
    + EVERYTHING
)
ONE = (
    """
query One($id: ID!, $other: ID!) {
  job(id: $id) { ...Everything }
  again: job(id: $id) { id ... on Job { report { success } } }
  missing: job(id: $other) { id }
  jobs(first: 2) { totalCount }
}
"""
    + EVERYTHING
)


@pytest.fixture
def compiled(env: Env) -> Iterator[list[bool]]:
    """Records, for each request, whether the compiled path answered it."""
    queries: CompiledQueries = env.app.state.graphql.compiled
    answer = queries.answer
    answered: list[bool] = []

    async def spy(*args: Any) -> Any:
        body = await answer(*args)
        answered.append(body is not None)
        return body

    queries.answer = spy  # type: ignore[method-assign]
    yield answered
    queries.answer = answer  # type: ignore[method-assign]


async def _both(env: Env, query: str, variables: dict[str, Any]) -> tuple[bytes, bytes]:
    served = await env.post(query, variables)
    endpoint = env.app.state.graphql
    compiled, endpoint.compiled = endpoint.compiled, None
    try:
        reference = await env.post(query, variables)
    finally:
        endpoint.compiled = compiled
    assert served.status_code == reference.status_code
    return served.content, reference.content


async def _values(env: Env) -> dict[str, Any]:
    page = await env.data("{ jobs(first: 60) { pageInfo { endCursor } } }")
    files = await env.data(
        '{ jobs(first: 5, filter: {dataType: {eq: "file"}, status: {eq: SUCCESS}}) '
        "{ nodes { id createdAt } } }"
    )
    acme = await env.data("{ jobs(first: 1) { nodes { id } } }", key="acme.read")
    newest = files["jobs"]["nodes"][0]
    since = datetime.fromisoformat(newest["createdAt"]) - timedelta(days=30)
    return {
        "cursor": page["jobs"]["pageInfo"]["endCursor"],
        "file_job": newest["id"],
        "foreign_job": acme["jobs"]["nodes"][0]["id"],
        "since": since.isoformat(),
    }


def _compiled_cases(v: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    status_order = [{"field": "STATUS", "direction": "DESC"}, {"field": "END_DATE"}]
    return [
        (bench_operation("q1"), {}),
        (bench_operation("q2"), {"after": v["cursor"]}),
        (bench_operation("q3"), {"id": v["file_job"]}),
        (bench_operation("q4"), {"tql": Q4_TQL.format(since=v["since"])}),
        (PAGE, {"first": 40}),
        (PAGE, {"first": 15, "after": v["cursor"], "orderBy": None}),
        (PAGE, {"last": 20, "before": v["cursor"]}),
        (PAGE, {"last": 7}),
        (PAGE, {"first": 30, "orderBy": status_order}),
        (PAGE, {"first": 25, "orderBy": [{"field": "ANALYZER_NAME"}, {"field": "TLP"}]}),
        (PAGE, {"first": 50, "filter": {"status": {"in": ["SUCCESS", "FAILURE"]}}}),
        (PAGE, {"first": 50, "tql": 'dataType in ("ip", "file") and not tlp = 3'}),
        (PAGE, {"first": 50, "tql": 'createdAt >= "now - 30d"', "deleted": True}),
        (PAGE, {"first": 50, "tql": 'attachmentSha256 IS NOT NULL or status = "DELETED"'}),
        (PAGE, {"first": 5, "tql": 'status = "DELETED"'}),
        (ONE, {"id": v["file_job"], "other": v["foreign_job"]}),
        (operation("job_page"), {"first": 30}),
        ("{ jobs { edges { node { id } } } }", {}),
        ("{ jobs(first: 1) { pageInfo { hasNextPage } } }", {}),
        (PAGE, {"first": 50, "tql": 'verdict >= "suspicious" and taxonomy has (namespace = "VT")'}),
        (PAGE, {"first": 30, "orderBy": [{"field": "VERDICT", "direction": "DESC"}]}),
        ("{ jobs(first: 20) { nodes { id verdict priority } } }", {}),
        (STATS, {"by": ["STATUS", "ANALYZER"], "tql": None}),
        (STATS, {"by": ["VERDICT", "TLP", "DATA_TYPE"], "tql": "artifact has (tlp >= 2)"}),
        (STATS, {"by": ["TIME"], "tql": 'createdAt between "now - 400 days" and "now"'}),
    ]


STATS = """
query ($by: [JobStatsDimension!]!, $tql: String) {
  jobStats(groupBy: $by, tql: $tql, bucket: WEEK) {
    __typename total truncated
    groups { __typename status analyzerId analyzerName dataType tlp verdict bucketStart count }
  }
}"""


DECLINED = [
    # Not compiled: fields it does not serve, directives, introspection.
    (operation("job_detail"), {"id": "nope"}),
    (operation("analyzers"), {"first": 5, "jobs": 3}),
    ("{ me { login } jobs(first: 2) { totalCount } }", {}),
    ("query($s: Boolean!) { jobs(first: 2) { nodes { id @skip(if: $s) } } }", {"s": True}),
    ("{ __schema { queryType { name } } }", {}),
    # Compiled, then given up: the executor reports the error.
    ('{ jobs(first: 2, after: "not-a-cursor") { nodes { id } } }', {}),
    ("{ jobs(first: 500) { nodes { id } } }", {}),
    ('{ jobs(first: 3, tql: "status = ") { nodes { id } } }', {}),
    ("query($n: Int) { jobs(first: $n) { nodes { id } } }", {"n": "three"}),
    ('{ jobs(first: 2, filter: {tlp: {gt: 1}}, tql: "tlp <") { nodes { id } } }', {}),
    ("{ jobStats(groupBy: [TIME]) { total } }", {}),
]


async def test_compiled_responses_equal_the_executors(env: Env, compiled: list[bool]) -> None:
    for query, variables in _compiled_cases(await _values(env)):
        compiled.clear()
        served, reference = await _both(env, query, variables)
        assert served == reference, (query, variables)
        assert b'"errors"' not in served and compiled[:1] == [True], (query, variables)


@pytest.mark.parametrize("case", range(len(DECLINED)))
async def test_what_is_not_compiled_is_answered_by_the_executor(
    env: Env, compiled: list[bool], case: int
) -> None:
    query, variables = DECLINED[case]
    served, reference = await _both(env, query, variables)
    assert served == reference
    assert compiled[:1] == [False]


async def test_another_organizations_job_is_null_as_an_unknown_one(env: Env) -> None:
    values = await _values(env)
    query = "query($id: ID!) { job(id: $id) { id report { success } } }"
    foreign = await env.post(query, {"id": values["foreign_job"]})
    unknown = await env.post(query, {"id": "0" * 20})
    assert foreign.content == unknown.content == b'{"data":{"job":null}}'


async def test_statements_per_request_are_fixed_by_the_selection(env: Env) -> None:
    values = await _values(env)
    counts = []
    for first in (3, 60):
        with env.statements() as seen:
            await env.data(PAGE, {"first": first, "after": values["cursor"]})
        counts.append(len(seen))
    # auth, page (joined with analyzer, attachment and report), artifacts, events, count, probe
    assert counts == [6, 6]


# Random selections over everything compiled queries serve, with aliases and orders.
ANALYZER_FIELDS = (
    "id name definitionId version description author license url dataTypes maxTlp "
    "jobCacheMinutes enabled createdAt __typename"
).split()
ATTACHMENT_FIELDS = "id name size contentType sha256 sha1 md5 hashes __typename".split()
LEAVES = {
    "taxonomies": "level namespace predicate value __typename".split(),
    "artifacts": "dataType data tlp message tags __typename".split(),
    "events": "at status previousStatus actor message __typename".split(),
}
ORDER_FIELDS = ["CREATED_AT", "UPDATED_AT", "START_DATE", "END_DATE", "STATUS", "TLP",
                "ANALYZER_NAME", "DATA_TYPE"]  # fmt: skip
TQLS = [None, 'status = "SUCCESS"', "tlp >= 2 or endDate is null", 'dataType != "file"']


@st.composite
def fields(draw: st.DrawFn, names: list[str]) -> str:
    chosen = draw(st.lists(st.sampled_from(names), min_size=1, max_size=6, unique=True))
    aliased = [f"x{i}: {name}" if draw(st.booleans()) else name for i, name in enumerate(chosen)]
    return " ".join(aliased)


@st.composite
def job_selection(draw: st.DrawFn) -> str:
    parts = [draw(fields([*JOB_FIELDS.split(), "__typename"]))]
    if draw(st.booleans()):
        parts.append(f"analyzer {{ {draw(fields(ANALYZER_FIELDS))} }}")
    if draw(st.booleans()):
        parts.append(f"attachment {{ {draw(fields(ATTACHMENT_FIELDS))} }}")
    if draw(st.booleans()):
        report = [draw(fields(["success", "errorMessage", "createdAt", "full", "__typename"]))]
        if draw(st.booleans()):
            report.append(f"summary {{ taxonomies {{ {draw(fields(LEAVES['taxonomies']))} }} }}")
        if draw(st.booleans()):
            report.append(f"artifacts {{ {draw(fields(LEAVES['artifacts']))} }}")
        parts.append(f"report {{ {' '.join(report)} }}")
    if draw(st.booleans()):
        parts.append(f"events {{ {draw(fields(LEAVES['events']))} }}")
    return " ".join(parts)


@st.composite
def requests(draw: st.DrawFn, job_ids: list[str]) -> tuple[str, dict[str, Any]]:
    node = draw(job_selection())
    if draw(st.integers(0, 3)) == 0:
        return f"query($id: ID!) {{ job(id: $id) {{ {node} }} }}", {
            "id": draw(st.sampled_from(job_ids))
        }
    keys = draw(st.lists(st.sampled_from(ORDER_FIELDS), max_size=2, unique=True))
    order = [{"field": k, "direction": draw(st.sampled_from(["ASC", "DESC"]))} for k in keys]
    size = {draw(st.sampled_from(["first", "last"])): draw(st.integers(1, 40))}
    parts = [
        part
        for part, wanted in [
            ("totalCount", draw(st.booleans())),
            (f"edges {{ cursor node {{ {node} }} }}", draw(st.booleans())),
            (f"nodes {{ {node} }}", draw(st.booleans())),
            ("pageInfo { hasNextPage hasPreviousPage startCursor endCursor }", draw(st.booleans())),
        ]
        if wanted
    ] or ["totalCount"]
    arguments = "first: $first, last: $last, orderBy: $orderBy, tql: $tql"
    query = (
        "query($first: Int, $last: Int, $orderBy: [JobOrder!], $tql: String) "
        f"{{ jobs({arguments}) {{ {' '.join(parts)} }} }}"
    )
    # Within JOBQL_MAX_ALIASES (30): past it the answer is QUERY_TOO_COMPLEX, not a read.
    assume(len(re.findall(r"\bx\d+:", query)) <= 30)
    return query, {**size, "orderBy": order, "tql": draw(st.sampled_from(TQLS))}


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(data=st.data())
async def test_random_selections_are_compiled_and_equal_the_executors(
    env: Env, compiled: list[bool], data: Any
) -> None:
    found = await env.data("{ jobs(first: 100, includeDeleted: true) { nodes { id } } }")
    query, variables = data.draw(requests([n["id"] for n in found["jobs"]["nodes"]]))
    compiled.clear()
    served, reference = await _both(env, query, variables)
    assert served == reference
    assert b'"errors"' not in served and compiled[:1] == [True]


async def test_no_free_connection_is_503_with_retry_after(env: Env) -> None:
    """No connection free in time for a compiled query: 503 and Retry-After, not a 500."""
    settings = env.settings.model_copy(
        update={"pool_size": 1, "pool_timeout_seconds": 0.2, "auth_cache_seconds": 60}
    )
    app = create_app(settings)
    transport = httpx.ASGITransport(app=app)
    headers = {"Authorization": f"Bearer {KEYS['demo.read']}"}
    body = {"query": "{ jobs(first: 2) { nodes { id } } }"}
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://jobql.test") as client:
            assert (await client.post("/graphql", json=body, headers=headers)).status_code == 200
            async with app.state.db.engine.connect() as held:  # the pool's only connection
                await held.exec_driver_sql("SELECT 1")
                busy = await client.post("/graphql", json=body, headers=headers)
            assert busy.status_code == 503 and busy.headers["Retry-After"] == "1"
            assert error_codes(busy.json()) == ["SERVICE_UNAVAILABLE"]
            assert (await client.post("/graphql", json=body, headers=headers)).status_code == 200
    finally:
        await app.state.db.dispose()


@pytest.mark.parametrize("backend", ["postgres"])  # SQLite readers are not blocked by a lock
async def test_a_planned_statement_that_times_out_answers_timeout_once(env: Env) -> None:
    """The page statement is stopped at the statement budget: the answer is TIMEOUT at the
    field, and nothing runs a second time (the executor used to run it again, so the request
    spent its whole budget and answered 503)."""
    limits = {"statement_timeout_ms": 300, "pool_timeout_seconds": 0.1, "auth_cache_seconds": 60}
    async with twin(env, **limits) as (url, app), httpx.AsyncClient(base_url=url) as client:
        headers = {"Authorization": f"Bearer {KEYS['demo.read']}"}
        body = {"query": bench_operation("q1")}
        assert (await client.post("/graphql", json=body, headers=headers)).status_code == 200
        locker = asyncio.create_task(lock_jobs(env, 2))
        await asyncio.sleep(0.3)
        with count_statements(app.state.db) as seen:
            response = await client.post("/graphql", json=body, headers=headers)
        await locker
    assert response.status_code == 200, response.text
    answer = response.json()
    assert answer["data"] is None  # jobs is non-null: its error nulls the data
    assert [(e["extensions"]["code"], e["path"]) for e in answer["errors"]] == [
        ("TIMEOUT", ["jobs"])
    ]
    assert answer["errors"][0]["locations"] == [{"line": 3, "column": 3}]
    assert len([s for s in seen if " job" in s.lower()]) == 1, seen
