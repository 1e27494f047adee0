"""POST /attachments: streamed, hashed, capped, stored once, refused before the body when it
must be, and never losing a file to a purge that races it."""

from __future__ import annotations

import asyncio
import hashlib
import json
import secrets
import tracemalloc
from collections.abc import AsyncIterator, Iterable
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from sqlalchemy import func, insert, select, update

from app.auth import Role
from app.blobs import BlobStore
from app.db.models import attachments, jobs
from app.services.attachments import attachments_by_id, download_path, lock_contents
from app.services.users import create_api_key
from tests.mutation_support import PURGE, database, job_ids
from tests.queue_support import COMPLETE, REPORT, claim, codes, lease_of, new_analyzer, worker_key
from tests.served import serve
from tests.support import KEYS, Env, twin_env

EICAR = rb"X5O!P%@AP[4\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*"
# Published digests of the EICAR test file (eicar.org), not computed here.
EICAR_DIGESTS = {
    "md5": "44d88612fea8a8f36de82e1278abb02f",
    "sha1": "3395856ce81f2b7382dee72602f798b642f14140",
    "sha256": "275a021bbfb6489e54d471899f7db9d1663fc695ec2fe2a2c4538aabf651fd0f",
}
FIELDS = {"id", "name", "size", "contentType", "sha256", "sha1", "md5"}


async def upload(
    client: httpx.AsyncClient,
    content: bytes | Iterable[bytes] | AsyncIterator[bytes],
    *,
    name: str | None = "sample.bin",
    key: str | None = "demo.analyze",
    headers: dict[str, str] | None = None,
) -> httpx.Response:
    sent = {"Content-Type": "application/octet-stream"}
    if name is not None:
        sent["Content-Disposition"] = f'attachment; filename="{name}"'
    if key is not None:
        sent["Authorization"] = f"Bearer {KEYS.get(key, key)}"
    return await client.post("/attachments", content=content, headers={**sent, **(headers or {})})


async def created(env: Env, content: bytes, **options: Any) -> dict[str, Any]:
    response = await upload(env.client, content, **options)
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


def blobs(env: Env) -> BlobStore:
    return BlobStore(env.settings.blob_dir)


def blob_files(env: Env) -> set[str]:
    """Every file under the blob folder (addressed blobs and staging files alike)."""
    root = env.settings.blob_dir
    return {str(p.relative_to(root)) for p in root.rglob("*") if p.is_file()}


async def attachment_rows(env: Env) -> int:
    async with database(env).read() as conn:
        return int(await conn.scalar(select(func.count()).select_from(attachments)) or 0)


async def download(env: Env, organization: str, attachment_id: str) -> httpx.Response:
    path = download_path(env.app.state.graphql.signer, organization, attachment_id, 2**40)
    return await env.client.get(path)


async def chunks(*parts: bytes, seen: list[int] | None = None) -> AsyncIterator[bytes]:
    """A body without Content-Length (sent chunked), noting each part the server pulls."""
    for part in parts:
        if seen is not None:
            seen.append(len(part))
        yield part


# --- what an upload stores and answers ------------------------------------------------------


async def test_an_upload_answers_the_attachment_and_its_bytes_download(env: Env) -> None:
    content = secrets.token_bytes(70_000)
    response = await upload(
        env.client,
        content,
        name="report.pdf",
        headers={"Content-Type": "Application/PDF; version=1.7"},
    )
    assert response.status_code == 201, response.text
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert set(body) == FIELDS
    assert body["name"] == "report.pdf"
    assert body["size"] == len(content)
    assert body["contentType"] == "application/pdf; version=1.7"
    assert body["sha256"] == hashlib.sha256(content).hexdigest()
    assert body["sha1"] == hashlib.sha1(content).hexdigest()
    assert body["md5"] == hashlib.md5(content).hexdigest()
    found = await attachments_by_id(database(env), "demo", [body["id"]])
    row = found[body["id"]]
    assert (row.name, row.size, row.content_type, row.sha256) == (
        "report.pdf",
        len(content),
        "application/pdf; version=1.7",
        body["sha256"],
    )
    assert blobs(env).path(body["sha256"]).read_bytes() == content
    served = await download(env, "demo", body["id"])
    assert served.status_code == 200 and served.content == content
    assert 'filename="report.pdf"' in served.headers["content-disposition"]
    assert blobs(env).staging_files() == []


async def test_the_eicar_test_file_hashes_as_published(env: Env) -> None:
    body = await created(env, EICAR, name="eicar.com", headers={"Content-Type": "text/plain"})
    assert {k: body[k] for k in EICAR_DIGESTS} == EICAR_DIGESTS
    assert body["size"] == 68
    assert blobs(env).path(EICAR_DIGESTS["sha256"]).read_bytes() == EICAR


async def test_without_a_content_type_the_file_is_octet_stream(env: Env) -> None:
    headers = {
        "Authorization": f"Bearer {KEYS['demo.admin']}",
        "Content-Disposition": "attachment; filename=x",
    }
    response = await env.client.post("/attachments", content=b"abc", headers=headers)
    assert response.status_code == 201, response.text
    assert response.json()["contentType"] == "application/octet-stream"


async def test_the_same_content_twice_is_stored_once_with_a_row_each(env: Env) -> None:
    content = secrets.token_bytes(5000)
    first = await created(env, content, name="a.bin")
    blob = blobs(env).path(first["sha256"])
    inode = blob.stat().st_ino
    files = blob_files(env)
    second = await created(env, content, name="b.bin")
    other = await created(env, content, name="c.bin", key="acme.analyze")
    assert len({first["id"], second["id"], other["id"]}) == 3
    assert first["sha256"] == second["sha256"] == other["sha256"]
    # Stored once: the first file stays as it was, and no other file appeared.
    assert blob.stat().st_ino == inode and blob_files(env) == files
    db = database(env)
    assert set(await attachments_by_id(db, "demo", [first["id"], second["id"]])) == {
        first["id"],
        second["id"],
    }
    names = await attachments_by_id(db, "acme", [other["id"]])
    assert names[other["id"]].name == "c.bin"


async def test_a_chunked_body_is_streamed_and_hashed(env: Env) -> None:
    parts = [secrets.token_bytes(100_000) for _ in range(7)]
    body = await created(env, chunks(*parts))
    whole = b"".join(parts)
    assert body["size"] == len(whole)
    assert body["sha256"] == hashlib.sha256(whole).hexdigest()
    assert blobs(env).path(body["sha256"]).read_bytes() == whole


async def test_a_large_upload_never_holds_the_file_in_memory(env: Env) -> None:
    part = secrets.token_bytes(64 * 1024)
    count = 384  # 24 MiB
    tracemalloc.start()
    try:
        body = await created(env, chunks(*[part] * count))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert body["size"] == len(part) * count
    assert body["sha256"] == hashlib.sha256(part * count).hexdigest()
    # A write batch (1 MiB) and its copy, a chunk or two: far below the file's 24 MiB.
    assert peak < 6 * 1024 * 1024, f"peak {peak} bytes"


# --- file names (RFC 6266, RFC 8187) ---------------------------------------------------------


@pytest.mark.parametrize(
    ("header", "name"),
    [
        ('attachment; filename="a b.txt"', "a b.txt"),
        ("attachment; filename=plain.txt", "plain.txt"),
        ('ATTACHMENT ; FILENAME = "up.TXT"', "up.TXT"),
        (r'attachment; filename="quo\"te.txt"', 'quo"te.txt'),
        ("attachment; filename*=UTF-8''%E2%82%AC%20rates.txt", "€ rates.txt"),
        ("attachment; filename*=utf-8'en'na%C3%AFve.txt", "naïve.txt"),
        ("attachment; filename*=ISO-8859-1''caf%E9.txt", "café.txt"),
        ("attachment; filename=\"fallback.txt\"; filename*=UTF-8''%E2%82%AC.txt", "€.txt"),
        ('attachment; filename="../../etc/passwd"', "passwd"),
        ('attachment; filename="C:\\\\Users\\\\x\\\\evil.exe"', "evil.exe"),
        ('inline; filename="shown.png"', "shown.png"),
    ],
)
async def test_file_names(env: Env, header: str, name: str) -> None:
    body = await created(env, b"x", name=None, headers={"Content-Disposition": header})
    assert body["name"] == name


async def test_a_utf8_name_sent_as_it_is_reads_as_utf8(env: Env) -> None:
    raw = 'attachment; filename="rapport-été.pdf"'.encode()
    headers = [
        (b"authorization", f"Bearer {KEYS['demo.analyze']}".encode()),
        (b"content-disposition", raw),
    ]
    response = await env.client.post("/attachments", content=b"x", headers=headers)
    assert response.status_code == 201, response.text
    assert response.json()["name"] == "rapport-été.pdf"


CD = "Content-Disposition"
EMPTY_CHUNKS = "chunked, empty"
BAD_REQUESTS = [
    ({CD: ""}, b"x", CD, "Name the file"),
    ({CD: "attachment"}, b"x", CD, "no filename"),
    ({CD: 'attachment; filename=""'}, b"x", CD, "empty"),
    ({CD: 'attachment; filename="dir/"'}, b"x", CD, "empty"),
    ({CD: 'form-data; filename="a"'}, b"x", CD, "attachment"),
    ({CD: 'attachment; filename="a"; filename="b"'}, b"x", CD, "twice"),
    ({CD: "attachment; filename*=UTF-8''%FF.txt"}, b"x", CD, "UTF-8"),
    ({CD: "attachment; filename*=KOI8-R''a.txt"}, b"x", CD, "UTF-8"),
    ({CD: "attachment; filename*=UTF-8''a%0Ab.txt"}, b"x", CD, "control"),
    ({CD: f'attachment; filename="{"n" * 256}"'}, b"x", CD, "longer"),
    ({CD: 'attachment; filename="a" junk'}, b"x", CD, "malformed"),
    ({"Content-Type": "not a media type"}, b"x", "Content-Type", "media type"),
    ({}, b"", "body", "empty"),
    ({}, EMPTY_CHUNKS, "body", "empty"),
]


@pytest.mark.parametrize(("headers", "content", "argument", "says"), BAD_REQUESTS)
async def test_bad_requests_are_400_and_store_nothing(
    env: Env, headers: dict[str, str], content: Any, argument: str, says: str
) -> None:
    rows, files = await attachment_rows(env), blob_files(env)
    body = chunks(b"", b"") if content == EMPTY_CHUNKS else content
    response = await upload(env.client, body, headers=headers)
    assert response.status_code == 400, response.text
    error = response.json()["errors"][0]
    assert error["extensions"] == {"code": "BAD_USER_INPUT", "argument": argument}
    assert says in error["message"]
    assert await attachment_rows(env) == rows and blob_files(env) == files


# --- the cap -----------------------------------------------------------------------------------


async def test_over_the_cap_is_413_and_leaves_no_file_and_no_row(env: Env) -> None:
    rows, files = await attachment_rows(env), blob_files(env)
    async with twin_env(env, max_upload_bytes=1000) as twin:
        client = twin.client
        seen: list[int] = []
        declared = await upload(
            client, chunks(b"x" * 1001, seen=seen), headers={"Content-Length": "1001"}
        )
        assert declared.status_code == 413, declared.text
        assert declared.json()["errors"][0]["extensions"]["code"] == "PAYLOAD_TOO_LARGE"
        assert seen == [], "refused on Content-Length, before reading the body"
        assert declared.headers["connection"] == "close"
        streamed = await upload(client, chunks(b"a" * 400, b"b" * 400, b"c" * 400))
        assert streamed.status_code == 413, streamed.text
        assert "larger than 1000 bytes" in streamed.json()["errors"][0]["message"]
        assert await attachment_rows(env) == rows and blob_files(env) == files
        exactly = await upload(client, chunks(b"a" * 500, b"b" * 500))
        assert exactly.status_code == 201, exactly.text
    assert await attachment_rows(env) == rows + 1
    sha256 = exactly.json()["sha256"]
    assert blob_files(env) - files == {f"{sha256[:2]}/{sha256}"}


async def test_the_cap_defaults_to_100_mib(env: Env) -> None:
    assert env.settings.max_upload_bytes == 100 * 1024 * 1024
    too_big = str(100 * 1024 * 1024 + 1)
    seen: list[int] = []
    response = await upload(
        env.client, chunks(b"x", seen=seen), headers={"Content-Length": too_big}
    )
    assert response.status_code == 413 and seen == []


# --- who may upload --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("key", "status", "code"),
    [
        (None, 401, "UNAUTHENTICATED"),
        ("jq_nosuchkey_secret", 401, "UNAUTHENTICATED"),
        ("demo.locked", 401, "UNAUTHENTICATED"),
        ("demo.read", 403, "FORBIDDEN"),
    ],
)
async def test_refused_keys_never_read_the_body(
    env: Env, key: str | None, status: int, code: str
) -> None:
    rows = await attachment_rows(env)
    seen: list[int] = []
    response = await upload(env.client, chunks(b"x" * 10, seen=seen), key=key)
    assert response.status_code == status, response.text
    assert response.json()["errors"][0]["extensions"]["code"] == code
    assert seen == [] and response.headers["connection"] == "close"
    if status == 401:
        assert response.headers["www-authenticate"] == "Bearer"
    assert await attachment_rows(env) == rows


@pytest.mark.parametrize("key", ["demo.analyze", "demo.admin"])
async def test_analyze_and_orgadmin_keys_may_upload(env: Env, key: str) -> None:
    assert (await upload(env.client, b"ok", key=key)).status_code == 201


async def test_a_worker_key_uploads_into_its_own_organization(env: Env) -> None:
    roles = [Role.WORKER]
    key = await create_api_key(database(env), organization="acme", login="runner@acme", roles=roles)
    body = await created(env, b"produced by an analyzer", key=key)
    assert body["id"] in await attachments_by_id(database(env), "acme", [body["id"]])
    assert await attachments_by_id(database(env), "demo", [body["id"]]) == {}


async def _raw_answer(
    url: str, head: str, timeout: float = 10
) -> tuple[int, dict[str, str], bytes]:
    """Sends a request head and never its body; reads the whole answer (to EOF)."""
    host, port = url.removeprefix("http://").split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    try:
        writer.write(head.encode())
        await writer.drain()
        answer = await asyncio.wait_for(reader.read(), timeout)  # EOF: the server closed
    finally:
        writer.close()
    start, _, body = answer.partition(b"\r\n\r\n")
    status_line, *lines = start.decode().split("\r\n")
    headers = {k.lower(): v.strip() for k, _, v in (line.partition(":") for line in lines)}
    return int(status_line.split()[1]), headers, body


@pytest.mark.parametrize(
    ("key", "status", "code"),
    [
        (None, 401, "UNAUTHENTICATED"),
        ("demo.read", 403, "FORBIDDEN"),
        ("demo.analyze", 413, "PAYLOAD_TOO_LARGE"),
    ],
)
async def test_a_real_server_answers_before_the_body_is_sent(
    env: Env, key: str | None, status: int, code: str
) -> None:
    # 200 MB announced, not a byte of it sent: the answer must come all the same.
    auth = f"Authorization: Bearer {KEYS[key]}\r\n" if key else ""
    head = (
        "POST /attachments HTTP/1.1\r\nHost: jobql.test\r\nContent-Length: 200000000\r\n"
        "Content-Type: application/octet-stream\r\n"
        'Content-Disposition: attachment; filename="big"\r\n'
        f"{auth}\r\n"
    )
    rows = await attachment_rows(env)
    async with serve(env) as url:
        answer, headers, body = await _raw_answer(url, head)
    assert answer == status
    assert headers["connection"] == "close"
    assert json.loads(body)["errors"][0]["extensions"]["code"] == code
    assert await attachment_rows(env) == rows and blobs(env).staging_files() == []


@pytest.mark.parametrize(
    "media", ["multipart/form-data; boundary=x", "application/x-www-form-urlencoded"]
)
async def test_a_form_is_not_a_file(env: Env, media: str) -> None:
    rows, files = await attachment_rows(env), blob_files(env)
    seen: list[int] = []
    response = await upload(env.client, chunks(b"a=b", seen=seen), headers={"Content-Type": media})
    assert response.status_code == 415, response.text
    error = response.json()["errors"][0]
    assert error["extensions"] == {"code": "UNSUPPORTED_MEDIA_TYPE", "argument": "Content-Type"}
    assert seen == [] and await attachment_rows(env) == rows and blob_files(env) == files


async def _until_no_staging_files(env: Env) -> None:
    for _ in range(250):
        if not blobs(env).staging_files():
            return
        await asyncio.sleep(0.02)
    raise AssertionError(f"left behind: {blobs(env).staging_files()}")


async def test_a_stalled_body_is_408_and_leaves_nothing(env: Env) -> None:
    rows, files = await attachment_rows(env), blob_files(env)
    head = (
        "POST /attachments HTTP/1.1\r\nHost: jobql.test\r\nContent-Length: 5000\r\n"
        f"Authorization: Bearer {KEYS['demo.analyze']}\r\n"
        'Content-Disposition: attachment; filename="slow.bin"\r\n\r\n'
    )
    budgets = {"request_timeout_seconds": 0.5, "statement_timeout_ms": 400}
    async with serve(env, pool_timeout_seconds=0.3, **budgets) as url:
        status, headers, body = await _raw_answer(url, head + "x" * 1000)
    assert status == 408 and headers["connection"] == "close"
    assert json.loads(body)["errors"][0]["extensions"]["code"] == "REQUEST_TIMEOUT"
    assert await attachment_rows(env) == rows and blob_files(env) == files


async def test_a_client_gone_mid_upload_leaves_nothing(env: Env) -> None:
    rows, files = await attachment_rows(env), blob_files(env)
    head = (
        "POST /attachments HTTP/1.1\r\nHost: jobql.test\r\nContent-Length: 5000000\r\n"
        f"Authorization: Bearer {KEYS['demo.analyze']}\r\n"
        'Content-Disposition: attachment; filename="gone.bin"\r\n\r\n'
    )
    async with serve(env) as url:
        host, port = url.removeprefix("http://").split(":")
        reader, writer = await asyncio.open_connection(host, int(port))
        writer.write(head.encode() + secrets.token_bytes(2_000_000))
        await writer.drain()
        for _ in range(250):  # until the server has begun staging the body
            if blobs(env).staging_files():
                break
            await asyncio.sleep(0.02)
        else:
            raise AssertionError("the server never began to stage the body")
        writer.close()
        await _until_no_staging_files(env)
    assert await attachment_rows(env) == rows and blob_files(env) == files


async def test_a_real_server_takes_an_upload_with_expect_100_continue(env: Env) -> None:
    content = secrets.token_bytes(300_000)
    async with serve(env) as url, httpx.AsyncClient(base_url=url) as client:
        body = (await upload(client, content, headers={"Expect": "100-continue"})).json()
    assert body["sha256"] == hashlib.sha256(content).hexdigest()


async def test_uploads_spend_the_keys_rate_budget_with_graphql(env: Env) -> None:
    rows = await attachment_rows(env)
    async with twin_env(env, rate_limit_per_second=0.001, rate_limit_burst=2) as twin:
        client = twin.client
        assert (await upload(client, b"one")).status_code == 201
        auth = {"Authorization": f"Bearer {KEYS['demo.analyze']}"}
        graphql = await client.post("/graphql", json={"query": "{ me { login } }"}, headers=auth)
        assert graphql.status_code == 200
        refused = await upload(client, chunks(b"two"))
        assert refused.status_code == 429 and "retry-after" in refused.headers
        assert refused.json()["errors"][0]["extensions"]["code"] == "RATE_LIMITED"
        # Another key has its own budget.
        assert (await upload(client, b"three", key="demo.admin")).status_code == 201
    assert await attachment_rows(env) == rows + 2


async def test_another_organization_cannot_reach_the_attachment(env: Env) -> None:
    body = await created(env, b"acme's secret file", key="acme.analyze")
    db = database(env)
    assert await attachments_by_id(db, "demo", [body["id"]]) == {}
    assert body["id"] in await attachments_by_id(db, "acme", [body["id"]])
    assert (await download(env, "demo", body["id"])).status_code == 404
    assert (await download(env, "acme", body["id"])).content == b"acme's secret file"


async def test_uploads_are_logged(env: Env, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level("INFO", logger="jobql.attachments")
    body = await created(env, b"logged")
    [record] = [r for r in caplog.records if r.name == "jobql.attachments"]
    message = record.getMessage()
    assert body["id"] in message and "analyst@demo" in message and body["sha256"] in message


# --- through GraphQL: a job of the uploaded file, a worker's produced file -------------------

_FILE_JOB = """
mutation($input: SubmitJobInput!) {
  submitJob(input: $input) {
    deduplicated
    job { id attachment { id name size contentType sha256 sha1 md5 hashes downloadUrl } }
  }
}
"""
_ARTIFACT_FILES = """
query($id: ID!) {
  job(id: $id) { report { artifacts { dataType attachment { id name sha256 downloadUrl } } } }
}
"""


async def _submit_file(env: Env, analyzer_id: str, attachment_id: str) -> dict[str, Any]:
    """The whole response of submitJob for a file, by the demo analyst."""
    job_input = {"analyzerId": analyzer_id, "dataType": "file", "attachmentId": attachment_id}
    return await env.gql(_FILE_JOB, {"input": job_input}, key="demo.analyze")


async def test_an_uploaded_file_is_submitted_and_read_back_through_graphql(env: Env) -> None:
    analyzer = await new_analyzer(env)
    body = await created(env, EICAR, name="eicar.com", headers={"Content-Type": "text/plain"})
    answer = await _submit_file(env, analyzer, body["id"])
    attachment = answer["data"]["submitJob"]["job"]["attachment"]
    assert {k: attachment[k] for k in FIELDS} == body
    assert attachment["hashes"] == [body["sha256"], body["sha1"], body["md5"]]
    assert (await env.client.get(attachment["downloadUrl"])).content == EICAR


async def test_the_same_bytes_uploaded_twice_make_one_job_in_flight(env: Env) -> None:
    # The job cache and its de-duplication key on the file's sha256, never the attachment id.
    analyzer = await new_analyzer(env)
    content = secrets.token_bytes(1000)
    first, second = [(await created(env, content, name=f"{n}.bin"))["id"] for n in "ab"]
    one = (await _submit_file(env, analyzer, first))["data"]["submitJob"]
    two = (await _submit_file(env, analyzer, second))["data"]["submitJob"]
    assert two["deduplicated"] is True and two["job"]["id"] == one["job"]["id"]


async def test_another_organizations_attachment_cannot_be_submitted(env: Env) -> None:
    analyzer = await new_analyzer(env)
    body = await created(env, b"acme only", key="acme.analyze")
    foreign = await _submit_file(env, analyzer, body["id"])
    assert codes(foreign) == [("BAD_USER_INPUT", "input.attachmentId")]
    unknown = await _submit_file(env, analyzer, "0" * 20)
    # Answered as an id that does not exist: nothing says that it exists elsewhere.
    message = foreign["errors"][0]["message"].replace(body["id"], "0" * 20)
    assert message == unknown["errors"][0]["message"]


async def test_a_worker_attaches_a_file_it_produced_to_an_artifact(env: Env) -> None:
    analyzer = await new_analyzer(env)
    sample = await created(env, secrets.token_bytes(500), name="sample.exe")
    assert "errors" not in await _submit_file(env, analyzer, sample["id"])
    key = await worker_key(env)
    [lease] = (await claim(env, key, analyzer))["leases"]
    produced = await created(env, b"unpacked payload", name="payload.bin", key=key)
    report = {**REPORT, "artifacts": [{"dataType": "file", "attachmentId": produced["id"]}]}
    await env.data(COMPLETE, {"lease": lease_of(lease), "report": report}, key=key)
    job = (await env.data(_ARTIFACT_FILES, {"id": lease["job"]["id"]}))["job"]
    [artifact] = job["report"]["artifacts"]
    assert (artifact["attachment"]["id"], artifact["attachment"]["name"]) == (
        produced["id"],
        "payload.bin",
    )
    served = await env.client.get(artifact["attachment"]["downloadUrl"])
    assert served.content == b"unpacked payload"


# --- purge versus upload -------------------------------------------------------------------


async def _job_holding(env: Env, content: bytes, job_id: str) -> dict[str, Any]:
    """Makes `content` the attachment of `job_id`, its only user: purging the job frees it."""
    body = await created(env, content)
    async with database(env).write() as conn:
        await conn.execute(update(jobs).where(jobs.c.id == job_id).values(attachment_id=body["id"]))
    return body


async def _purge(env: Env, job_id: str) -> None:
    assert (await env.data(PURGE, {"id": job_id}, key="demo.admin"))["purgeJob"] == job_id


async def _assert_every_row_has_its_blob(env: Env, sha256: str) -> int:
    async with database(env).read() as conn:
        ids = list(
            (
                await conn.execute(select(attachments.c.id).where(attachments.c.sha256 == sha256))
            ).scalars()
        )
    if ids:
        assert blobs(env).exists(sha256), f"{len(ids)} rows point at a deleted blob"
    return len(ids)


async def test_a_purge_keeps_a_blob_that_an_uploaded_row_still_uses(env: Env) -> None:
    content = secrets.token_bytes(2000)
    job = (await job_ids(env, "SUCCESS"))[0]
    first = await _job_holding(env, content, job)
    second = await created(env, content, name="again.bin")
    await _purge(env, job)
    assert await attachments_by_id(database(env), "demo", [first["id"]]) == {}
    assert await _assert_every_row_has_its_blob(env, first["sha256"]) == 1
    assert (await download(env, "demo", second["id"])).content == content


async def test_purge_frees_the_blob_of_its_last_user(env: Env) -> None:
    content = secrets.token_bytes(2000)
    job = (await job_ids(env, "SUCCESS"))[0]
    body = await _job_holding(env, content, job)
    await _purge(env, job)
    assert not blobs(env).exists(body["sha256"])


async def test_an_upload_waits_while_a_purge_decides_on_its_content(env: Env) -> None:
    """The test plays a purge between its check ("no row uses these bytes") and its file
    deletion, holding the content's lock as the purge does: the upload must wait, then put
    the file back, so its row never points at nothing."""
    content = secrets.token_bytes(3000)
    sha256 = hashlib.sha256(content).hexdigest()
    blobs(env).put(content)  # the bytes of a purged attachment, about to go
    db = database(env)
    async with db.write() as conn:
        await lock_contents(conn, [sha256])
        uploading = asyncio.create_task(upload(env.client, content))
        await asyncio.sleep(0.5)
        assert not uploading.done(), "the upload recorded its row under the purge's lock"
        blobs(env).delete(sha256)
    response = await uploading
    assert response.status_code == 201, response.text
    assert blobs(env).path(sha256).read_bytes() == content
    assert (await download(env, "demo", response.json()["id"])).content == content


async def test_a_purge_waits_while_an_upload_records_its_row(env: Env) -> None:
    """The reverse: an upload has locked the content and written its row, not yet committed.
    A purge freeing the same bytes must not decide before that row is visible."""
    content = secrets.token_bytes(3000)
    job = (await job_ids(env, "SUCCESS"))[0]
    held = await _job_holding(env, content, job)
    db = database(env)
    async with db.write() as conn:
        await lock_contents(conn, [held["sha256"]])
        row = {**_attachment_like(held), "id": "a" * 20, "name": "racing.bin"}
        await conn.execute(insert(attachments).values(row))
        purging = asyncio.create_task(_purge(env, job))
        await asyncio.sleep(0.5)
        assert blobs(env).exists(held["sha256"])
    await purging
    assert blobs(env).path(held["sha256"]).read_bytes() == content
    assert await _assert_every_row_has_its_blob(env, held["sha256"]) == 1


def _attachment_like(body: dict[str, Any]) -> dict[str, Any]:
    return {
        "organization_id": "demo",
        "size": body["size"],
        "content_type": body["contentType"],
        "sha256": body["sha256"],
        "sha1": body["sha1"],
        "md5": body["md5"],
        "created_at": datetime.now(UTC),
    }


async def _late_upload(env: Env, content: bytes, delay: float) -> httpx.Response:
    await asyncio.sleep(delay)
    return await upload(env.client, content, name="racing.bin")


async def test_purges_racing_uploads_of_the_same_content_never_lose_a_file(env: Env) -> None:
    """Rounds of a purge that frees a content's last row against uploads of those bytes,
    started at staggered moments: whoever wins, every row left has its file. (Both orders
    occur: in some rounds the purge deleted the file and an upload put it back.)"""
    job_list = await job_ids(env, "SUCCESS", 8)
    for round, job in enumerate(job_list):
        content = secrets.token_bytes(4096)
        held = await _job_holding(env, content, job)
        delays = [0.002 * round * k for k in range(3)]
        uploads = (_late_upload(env, content, d) for d in delays)
        results = await asyncio.gather(_purge(env, job), *uploads)
        ids = [r.json()["id"] for r in results[1:]]
        assert all(r.status_code == 201 for r in results[1:])
        assert await _assert_every_row_has_its_blob(env, held["sha256"]) == len(ids)
        for id in ids:
            assert (await download(env, "demo", id)).content == content
    assert blobs(env).staging_files() == []


async def test_a_submission_racing_the_purge_of_its_attachment_is_answered_cleanly(
    env: Env,
) -> None:
    """submitJob of a file whose last job is being purged, over HTTP, at staggered moments:
    either the submission wins (its job keeps the attachment, which keeps its file) or the
    purge does (the submission hears "No such attachment", BAD_USER_INPUT); never a 500 (an
    FK violation: the submission read the attachment, the purge deleted it, the job's INSERT
    pointed at nothing)."""
    analyzer = await new_analyzer(env)
    outcomes = set()
    async with serve(env) as url, httpx.AsyncClient(base_url=url, timeout=30) as client:
        for round, job in enumerate(await job_ids(env, "SUCCESS", 12)):
            held = await _job_holding(env, secrets.token_bytes(1000), job)
            job_input = {"analyzerId": analyzer, "dataType": "file", "attachmentId": held["id"]}
            submitting = _late_post(client, 0.001 * (round % 6), _FILE_JOB, {"input": job_input})
            purging = _late_post(client, 0.001 * (5 - round % 6), PURGE, {"id": job}, "admin")
            submitted, purged = await asyncio.gather(submitting, purging)
            assert purged.status_code == 200 and "errors" not in purged.json(), purged.text
            assert submitted.status_code == 200, submitted.text
            answer = submitted.json()
            if "errors" in answer:
                assert codes(answer) == [("BAD_USER_INPUT", "input.attachmentId")], answer
                assert await attachments_by_id(database(env), "demo", [held["id"]]) == {}
                outcomes.add("purge first")
            else:
                new_job = answer["data"]["submitJob"]["job"]
                assert new_job["attachment"]["id"] == held["id"]
                assert blobs(env).exists(held["sha256"])
                outcomes.add("submission first")
    assert outcomes, "no round ran"


async def _late_post(
    client: httpx.AsyncClient, delay: float, query: str, variables: dict[str, Any], who: str = ""
) -> httpx.Response:
    await asyncio.sleep(delay)
    key = KEYS["demo.admin" if who == "admin" else "demo.analyze"]
    body = {"query": query, "variables": variables}
    return await client.post("/graphql", json=body, headers={"Authorization": f"Bearer {key}"})
