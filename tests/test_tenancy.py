"""One organization never sees another's data: another's object is answered like an absent one."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs, urlsplit

from tests.support import Env

JOB = "query($id: ID!) { job(id: $id) { id } }"
ANALYZER = "query($id: ID!) { analyzer(id: $id) { id } }"


async def _first_file_job(env: Env, key: str) -> dict[str, Any]:
    data = await env.data(
        "{ jobs(first: 100) { nodes { id organization analyzerId dataType "
        "attachment { id sha256 downloadUrl } } } }",
        key=key,
    )
    return next(n for n in data["jobs"]["nodes"] if n["attachment"])


async def test_job_of_another_organization_is_null(env: Env) -> None:
    acme_job = await _first_file_job(env, "acme.read")
    assert (await env.data(JOB, {"id": acme_job["id"]}, key="acme.read"))["job"]
    as_demo = await env.gql(JOB, {"id": acme_job["id"]}, key="demo.admin")
    absent = await env.gql(JOB, {"id": "0" * 20}, key="demo.admin")
    assert as_demo == absent == {"data": {"job": None}}


async def test_analyzer_of_another_organization_is_null(env: Env) -> None:
    acme_job = await _first_file_job(env, "acme.read")
    assert (await env.data(ANALYZER, {"id": acme_job["analyzerId"]}, key="acme.read"))["analyzer"]
    assert await env.gql(ANALYZER, {"id": acme_job["analyzerId"]}) == {"data": {"analyzer": None}}


async def test_listings_hold_only_the_callers_organization(env: Env) -> None:
    for key, org in (("demo.read", "demo"), ("acme.read", "acme")):
        data = await env.data(
            "{ jobs(first: 100) { totalCount nodes { organization analyzer { id } } } "
            "analyzers(first: 100) { nodes { jobs(first: 100) { nodes { organization } } } } }",
            key=key,
        )
        assert {n["organization"] for n in data["jobs"]["nodes"]} == {org}
        nested = {j["organization"] for a in data["analyzers"]["nodes"] for j in a["jobs"]["nodes"]}
        assert nested == {org}
    demo = await env.data("{ jobs { totalCount } }", key="demo.read")
    acme = await env.data("{ jobs { totalCount } }", key="acme.read")
    assert demo["jobs"]["totalCount"] != acme["jobs"]["totalCount"]


async def test_download_link_streams_the_blob(env: Env) -> None:
    job = await _first_file_job(env, "demo.read")
    url = urlsplit(job["attachment"]["downloadUrl"])
    response = await env.client.get(f"{url.path}?{url.query}")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/octet-stream"
    assert response.headers["x-content-type-options"] == "nosniff"
    import hashlib

    assert hashlib.sha256(response.content).hexdigest() == job["attachment"]["sha256"]


async def test_download_link_cannot_be_bent_to_another_organization(env: Env) -> None:
    demo_job = await _first_file_job(env, "demo.read")
    acme_job = await _first_file_job(env, "acme.read")
    url = urlsplit(demo_job["attachment"]["downloadUrl"])
    params = {k: v[0] for k, v in parse_qs(url.query).items()}
    attempts = [
        # demo's signature on acme's attachment id
        (f"/attachments/{acme_job['attachment']['id']}/download", params),
        # claiming another organization
        (url.path, {**params, "org": "acme"}),
        (url.path, {**params, "signature": "0" * 64}),
        (url.path, {**params, "expires": str(int(params["expires"]) + 3600)}),
        (url.path, {}),
    ]
    for path, query in attempts:
        response = await env.client.get(path, params=query)
        assert response.status_code == 404
        assert response.text == "Not found or link expired"


async def test_expired_download_link_is_refused(env: Env) -> None:
    from app.services.attachments import download_path
    from app.signing import load_signer

    job = await _first_file_job(env, "demo.read")
    path = download_path(load_signer(env.settings), "demo", job["attachment"]["id"], 1_000_000)
    assert (await env.client.get(path)).status_code == 404


async def test_download_url_expiry_is_checked(env: Env) -> None:
    job = await _first_file_job(env, "demo.read")
    body = await env.gql(
        "query($id: ID!) { job(id: $id) { attachment { downloadUrl(expiresIn: 0) } } }",
        {"id": job["id"]},
    )
    error = body["errors"][0]
    assert error["extensions"] == {"code": "BAD_USER_INPUT", "argument": "expiresIn"}
