"""Node, node(id:) and nodes(ids:) through HTTP: Relay's way to refetch any object by its id."""

from __future__ import annotations

from typing import Any

from sqlalchemy import insert, select

from app.db.models import analyzers
from tests.support import Env, error_codes

NODES = """
query Nodes($ids: [ID!]!) {
  nodes(ids: $ids) {
    __typename id
    ... on Job { status analyzer { id } }
    ... on Analyzer { name }
    ... on Attachment { sha256 }
  }
}
"""
NODE = "query Node($id: ID!) { node(id: $id) { __typename id ... on Job { dataType } } }"
FILE_JOB = """
{ jobs(first: 1, tql: "dataType = 'file'") { nodes { id analyzer { id } attachment { id } } } }
"""
ABSENT = "0123456789abcdef0123"


async def file_job(env: Env, key: str = "demo.read") -> dict[str, Any]:
    job: dict[str, Any] = (await env.data(FILE_JOB, key=key))["jobs"]["nodes"][0]
    return job


async def test_node_finds_a_job_an_analyzer_and_an_attachment(env: Env) -> None:
    job = await file_job(env)
    ids = [job["id"], job["analyzer"]["id"], job["attachment"]["id"], ABSENT]
    found = (await env.data(NODES, {"ids": ids}))["nodes"]
    kinds = [node and node["__typename"] for node in found]
    assert kinds == ["Job", "Analyzer", "Attachment", None]
    assert [node["id"] for node in found[:3]] == ids[:3]
    assert found[0]["analyzer"] == {"id": job["analyzer"]["id"]}
    assert found[1]["name"] and len(found[2]["sha256"]) == 64
    alone = (await env.data(NODE, {"id": job["id"]}))["node"]
    assert alone == {"__typename": "Job", "id": job["id"], "dataType": "file"}


async def test_statements_are_fixed_by_shape_not_by_the_number_of_ids(env: Env) -> None:
    page = await env.data("{ jobs(first: 60) { nodes { id } } }")
    ids = [node["id"] for node in page["jobs"]["nodes"]]
    counts = []
    for some in (ids[:1], ids):
        with env.statements() as seen:
            found = (await env.data(NODES, {"ids": some}))["nodes"]
        assert [node["id"] for node in found] == some
        counts.append(len(seen))
    # The key's lookup, one per table (job, analyzer, attachment), one for the jobs' analyzers.
    assert counts == [5, 5]
    several = " ".join(f'n{i}: node(id: "{job_id}") {{ id }}' for i, job_id in enumerate(ids[:20]))
    with env.statements() as seen:
        await env.data(f"{{ {several} }}")
    assert len(seen) == 4  # the key's, then twenty node fields batched together


async def test_another_organizations_id_is_null_by_the_same_statements(env: Env) -> None:
    theirs = await file_job(env, key="acme.read")
    ids = [theirs["id"], theirs["analyzer"]["id"], theirs["attachment"]["id"]]
    statements = []
    for asked in (ids, [ABSENT, ABSENT[::-1], ABSENT.upper()]):
        with env.statements() as seen:
            assert (await env.data(NODES, {"ids": asked}))["nodes"] == [None, None, None]
        statements.append(seen)
    assert sorted(statements[0]) == sorted(statements[1])  # nothing tells absent from foreign
    assert (await env.data(NODE, {"id": theirs["id"]}))["node"] is None


async def test_any_reader_of_jobs_may_ask(env: Env) -> None:
    job = await file_job(env)
    for key in ("demo.read", "demo.analyze", "demo.admin"):
        assert (await env.data(NODE, {"id": job["id"]}, key=key))["node"]["id"] == job["id"]
    assert (await env.post(NODE, {"id": job["id"]}, key=None)).status_code == 401


async def test_too_many_ids_are_refused(env: Env) -> None:
    body = await env.gql(NODES, {"ids": [ABSENT] * (env.settings.max_page_size + 1)})
    assert error_codes(body) == ["BAD_USER_INPUT"]
    assert body["errors"][0]["extensions"]["argument"] == "ids"
    assert (await env.data(NODES, {"ids": []}))["nodes"] == []


async def test_an_id_shared_by_two_tables_answers_the_job(env: Env) -> None:
    """Never seen with 80 random bits, but decided: the Job, then the Analyzer (docs/clients.md)."""
    job = await file_job(env)
    async with env.engine.begin() as conn:
        row = (
            await conn.execute(select(analyzers).where(analyzers.c.id == job["analyzer"]["id"]))
        ).one()
        await conn.execute(
            insert(analyzers).values({**row._asdict(), "id": job["id"], "name": "Twin"})
        )
    found = (await env.data(NODES, {"ids": [job["id"]]}))["nodes"]
    assert [(node["__typename"], node["id"]) for node in found] == [("Job", job["id"])]
