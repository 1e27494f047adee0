"""purgeJob removes the rows, and a blob file only when no attachment row uses it any more."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select

from app.blobs import BlobStore
from app.db.models import artifacts, attachments, job_events, reports
from tests.mutation_support import PURGE, database, job_ids, lifecycle
from tests.support import Env, error_codes

_WITH_ARTIFACTS = """
{ jobs(tql: "status = \\"SUCCESS\\"", first: 100) { nodes { id report { artifacts { data } } } } }
"""
_BY_SHA = """
query($sha: String!) {
  jobs(filter: {attachmentSha256: {eq: $sha}}, includeDeleted: true, first: 100) {
    nodes { id }
  }
}
"""


async def _rows_of(env: Env, job_id: str) -> dict[str, int]:
    counts = {}
    async with database(env).read() as conn:
        for table in (reports, artifacts, job_events):
            query = select(func.count()).select_from(table).where(table.c.job_id == job_id)
            counts[table.name] = int(await conn.scalar(query) or 0)
    return counts


async def _attachment_rows(env: Env, sha256: str) -> dict[str, int]:
    """How many attachment rows each organization has for these bytes."""
    query = (
        select(attachments.c.organization_id, func.count())
        .where(attachments.c.sha256 == sha256)
        .group_by(attachments.c.organization_id)
    )
    async with database(env).read() as conn:
        return {org: int(n) for org, n in await conn.execute(query)}


async def _purge_all(env: Env, sha256: str, key: str) -> int:
    ids = [n["id"] for n in (await env.data(_BY_SHA, {"sha": sha256}, key=key))["jobs"]["nodes"]]
    for id in ids:
        assert (await env.data(PURGE, {"id": id}, key=key))["purgeJob"] == id
    return len(ids)


async def _a_file_job(env: Env) -> dict[str, Any]:
    data = await env.data(
        '{ jobs(filter: {dataType: {eq: "file"}}, includeDeleted: true, first: 1) '
        "{ nodes { id attachment { id sha256 } } } }"
    )
    job: dict[str, Any] = data["jobs"]["nodes"][0]
    return job


async def test_purge_removes_the_job_its_report_artifacts_and_events(env: Env) -> None:
    nodes = (await env.data(_WITH_ARTIFACTS))["jobs"]["nodes"]
    id = next(n["id"] for n in nodes if n["report"]["artifacts"])
    before = await _rows_of(env, id)
    assert all(before.values()), before
    assert (await env.data(PURGE, {"id": id}, key="demo.admin"))["purgeJob"] == id
    assert await lifecycle(env, id) is None
    assert await _rows_of(env, id) == {"report": 0, "artifact": 0, "job_event": 0}


async def test_an_attachment_other_jobs_use_stays(env: Env) -> None:
    job = await _a_file_job(env)
    sha = job["attachment"]["sha256"]
    users = (await env.data(_BY_SHA, {"sha": sha}))["jobs"]["nodes"]
    assert len(users) > 1, "the demo data shares each attachment between jobs"
    await env.data(PURGE, {"id": job["id"]}, key="demo.admin")
    survivor = await lifecycle(env, next(u["id"] for u in users if u["id"] != job["id"]))
    assert survivor is not None and survivor["attachment"] == job["attachment"]
    assert BlobStore(env.settings.blob_dir).exists(sha)


async def test_a_blob_goes_only_with_the_last_attachment_row_of_any_organization(
    env: Env,
) -> None:
    sha = (await _a_file_job(env))["attachment"]["sha256"]
    blobs = BlobStore(env.settings.blob_dir)
    assert await _attachment_rows(env, sha) == {"demo": 1, "acme": 1}
    assert await _purge_all(env, sha, "demo.admin") > 1
    # demo's row went with its last job; acme's row still holds the same bytes.
    assert await _attachment_rows(env, sha) == {"acme": 1}
    assert blobs.exists(sha)
    assert await _purge_all(env, sha, "acme.admin") > 0
    assert await _attachment_rows(env, sha) == {}
    assert not blobs.exists(sha)


async def test_purge_of_another_organizations_job_keeps_it(env: Env) -> None:
    acme = (await job_ids(env, "SUCCESS", key="acme.read"))[0]
    body = await env.gql(PURGE, {"id": acme}, key="demo.admin")
    assert error_codes(body) == ["NOT_FOUND"]
    assert await lifecycle(env, acme, key="acme.read") is not None
