"""Tenancy leaks: with one organization's key, another's data never shows, nor its existence.

Two organizations with look-alike data (the demo's `demo` and `acme`, made to share a data
value and an analyzer name here). Every probe with a foreign id is compared byte for byte with
the same probe with a random id of the same shape: any difference would tell the caller that
the foreign object exists.
"""

from __future__ import annotations

import base64
import secrets
from typing import Any
from urllib.parse import urlsplit

import orjson
import pytest
from sqlalchemy import text

from app.services.attachments import download_path
from app.signing import load_signer
from tests.support import Env, operation

FOREIGN_JOB = "query ($id: ID!) { job(id: $id) { id status report { success } events { at } } }"
FOREIGN_ANALYZER = "query ($id: ID!) { analyzer(id: $id) { id name jobs { totalCount } } }"
PAGE = "query ($after: String) { jobs(first: 5, after: $after) { totalCount " \
       "edges { cursor node { id organization } } pageInfo { endCursor } } }"  # fmt: skip


def random_like(value: str) -> str:
    return secrets.token_hex(len(value))[: len(value)]


async def raw(env: Env, query: str, variables: dict[str, Any], key: str) -> bytes:
    response = await env.post(query, variables, key=key)
    assert response.status_code == 200, response.text
    return response.content


async def same_as_absent(env: Env, query: str, name: str, foreign: str, key: str) -> None:
    """The answer for a foreign id equals, byte for byte, the answer for a random one."""
    other = random_like(foreign)
    seen = await raw(env, query, {name: foreign}, key)
    absent = await raw(env, query, {name: other}, key)
    assert seen.replace(foreign.encode(), b"<id>") == absent.replace(other.encode(), b"<id>")


@pytest.fixture
async def acme(env: Env) -> dict[str, Any]:
    """acme's objects, as acme sees them, after making acme look like demo in places."""
    data = await env.data(
        "{ jobs(first: 100) { nodes { id status data analyzerId analyzerName "
        "attachment { id sha256 } } } }",
        key="acme.read",
    )
    jobs = data["jobs"]["nodes"]
    demo = (await env.data("{ jobs(first: 1) { nodes { data analyzerName } } }"))["jobs"]
    look_alike = demo["nodes"][0]
    async with env.engine.begin() as conn:  # same observable, same analyzer name as demo's
        await conn.execute(text("UPDATE job SET data = :d WHERE id = :id"),
                           {"d": look_alike["data"], "id": jobs[0]["id"]})  # fmt: skip
        await conn.execute(text("UPDATE analyzer SET name = :n WHERE id = :id"),
                           {"n": look_alike["analyzerName"],
                            "id": jobs[0]["analyzerId"]})  # fmt: skip
    return {"jobs": jobs, "shared_data": look_alike["data"],
            "file_job": next(j for j in jobs if j["attachment"])}  # fmt: skip


async def test_objects_by_id(env: Env, acme: dict[str, Any]) -> None:
    for job in acme["jobs"][:10]:
        await same_as_absent(env, FOREIGN_JOB, "id", job["id"], "demo.read")
        await same_as_absent(env, FOREIGN_ANALYZER, "id", job["analyzerId"], "demo.read")


async def test_filters_and_counts(env: Env, acme: dict[str, Any]) -> None:
    job = acme["file_job"]
    probes = [
        ("query ($id: ID!) { jobs(filter: {id: {eq: $id}}) { totalCount nodes { id } } }",
         job["id"]),
        ("query ($id: String!) { jobs(filter: {analyzerId: {eq: $id}}) { totalCount } }",
         job["analyzerId"]),
        ("query ($id: String!) { analyzers(filter: {id: {eq: $id}}) { nodes { id } } }",
         job["analyzerId"]),
    ]  # fmt: skip
    for query, foreign in probes:
        await same_as_absent(env, query, "id", foreign, "demo.read")
    for tql in (f"id = '{job['id']}'", f"analyzerId = '{job['analyzerId']}'"):
        body = await env.data("query ($t: String) { jobs(tql: $t) { totalCount } }", {"t": tql})
        assert body["jobs"]["totalCount"] == 0


async def test_look_alike_rows_count_only_the_callers(env: Env, acme: dict[str, Any]) -> None:
    shared = acme["shared_data"]
    async with env.engine.connect() as conn:
        own = (await conn.execute(text(
            "SELECT count(*) FROM job WHERE organization_id = 'demo' AND data = :d "
            "AND status != 'DELETED'"), {"d": shared})).scalar()  # fmt: skip
    query = ("query ($d: String) { jobs(filter: {data: {eq: $d}}) "
             "{ totalCount nodes { organization } } }")  # fmt: skip
    data = await env.data(query, {"d": shared})
    assert data["jobs"]["totalCount"] == own
    assert {n["organization"] for n in data["jobs"]["nodes"]} == {"demo"}
    sha = acme["file_job"]["attachment"]["sha256"]
    by_sha = await env.data(
        "query ($s: String) { jobs(filter: {attachmentSha256: {eq: $s}}) "
        "{ nodes { organization } } }",
        {"s": sha},
    )  # fmt: skip
    assert {n["organization"] for n in by_sha["jobs"]["nodes"]} <= {"demo"}


def forge(cursor: str, job_id: str) -> str:
    """The same cursor, pointing at another id: the keyset position with a stranger's row."""
    raw = orjson.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    raw[2][-1] = job_id
    return base64.urlsafe_b64encode(orjson.dumps(raw)).decode().rstrip("=")


async def test_cursors_of_another_organization(env: Env, acme: dict[str, Any]) -> None:
    page = (await env.data(PAGE, {"after": None}, key="acme.read"))["jobs"]
    for edge in page["edges"]:
        cursor = edge["cursor"]
        seen = await raw(env, PAGE, {"after": cursor}, "demo.read")
        forged = await raw(env, PAGE, {"after": forge(cursor, random_like(edge["node"]["id"]))},
                           "demo.read")  # fmt: skip
        body = orjson.loads(seen)
        assert {e["node"]["organization"] for e in body["data"]["jobs"]["edges"]} <= {"demo"}
        strip = orjson.loads(seen)["data"]["jobs"], orjson.loads(forged)["data"]["jobs"]
        assert [e["node"] for e in strip[0]["edges"]] == [e["node"] for e in strip[1]["edges"]]
        assert strip[0]["totalCount"] == strip[1]["totalCount"]


async def test_mutations_on_foreign_jobs(env: Env, acme: dict[str, Any]) -> None:
    before = await env.data("{ jobs(first: 100, includeDeleted: true) { nodes { id status } } }",
                            key="acme.read")  # fmt: skip
    for name in ("cancel_job", "delete_job", "purge_job"):
        for job in acme["jobs"][:3]:
            await same_as_absent(env, operation(name), "id", job["id"], "demo.admin")
    ids = [j["id"] for j in acme["jobs"]]
    deleted = await env.data(operation("delete_jobs"), {"filter": {"id": {"in": ids}}},
                             key="demo.admin")  # fmt: skip
    assert deleted == {"deleteJobs": 0}
    after = await env.data("{ jobs(first: 100, includeDeleted: true) { nodes { id status } } }",
                           key="acme.read")  # fmt: skip
    assert after == before


async def test_download_links(env: Env, acme: dict[str, Any]) -> None:
    attachment = acme["file_job"]["attachment"]
    signer = load_signer(env.settings)
    expires = 4_000_000_000
    # Even a link demo's own key signs cannot reach acme's bytes, and its 404 is a stranger's.
    foreign = await env.client.get(download_path(signer, "demo", attachment["id"], expires))
    other = random_like(attachment["id"])
    absent = await env.client.get(download_path(signer, "demo", other, expires))
    assert foreign.status_code == absent.status_code == 404
    assert foreign.content == absent.content
    same = {"content-length": "x", "x-request-id": "x"}  # the request id is each request's
    assert dict(foreign.headers) | same == dict(absent.headers) | same
    acme_link = await env.data(
        "query ($id: ID!) { job(id: $id) { attachment { downloadUrl } } }",
        {"id": acme["file_job"]["id"]}, key="acme.read",
    )  # fmt: skip
    url = urlsplit(acme_link["job"]["attachment"]["downloadUrl"])
    assert "org=acme" in url.query  # signed for its own organization only
