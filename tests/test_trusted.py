"""Trusted documents (JOBQL_TRUSTED_DOCUMENTS) through HTTP and WebSocket: only the manifest's
documents run, by documentId, by sha256 or as their text; anything else is refused before it
is parsed."""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from graphql import build_schema

from app.config import Settings, describe
from app.ops import startup_report
from app.trusted import Manifest, build_manifest, sha256
from tests.live_support import UPDATES, live
from tests.served import serve
from tests.support import KEYS, OPERATIONS, Env, error_codes, operation, twin_env

ROOT = Path(__file__).resolve().parents[1]
SCHEMA = build_schema((ROOT / "schema.graphql").read_text())
WORKER = ROOT / "app" / "worker"
GRAPHQL_RESPONSE = "application/graphql-response+json"


def headers(key: str = "demo.read", accept: str = "application/json") -> dict[str, str]:
    return {"Authorization": f"Bearer {KEYS[key]}", "Accept": accept}


@pytest.fixture
def manifest(tmp_path: Path) -> dict[str, str]:
    documents = build_manifest([OPERATIONS, WORKER / "operations"], SCHEMA)
    (tmp_path / "trusted.json").write_text(json.dumps(documents))
    return documents


@pytest.fixture
async def trusted(env: Env, manifest: dict[str, str], tmp_path: Path) -> AsyncIterator[Env]:
    async with twin_env(env, trusted_documents=tmp_path / "trusted.json") as on:
        yield on


def id_of(manifest: dict[str, str], name: str) -> str:
    (found,) = [key for key, text in manifest.items() if re.match(rf"\w+ {name}\b", text)]
    return found


async def post(env: Env, body: dict[str, Any], **kwargs: str) -> httpx.Response:
    return await env.client.post("/graphql", json=body, headers=headers(**kwargs))


async def test_a_registered_document_runs_by_id_by_hash_and_as_text(
    trusted: Env, manifest: dict[str, str]
) -> None:
    page = id_of(manifest, "JobPage")
    text = manifest[page]
    variables = {"first": 3}
    answers = [
        await post(trusted, {"documentId": page, "variables": variables}),
        await post(trusted, {"documentId": f"sha256:{sha256(text)}", "variables": variables}),
        await post(
            trusted,
            {
                "variables": variables,
                "extensions": {"persistedQuery": {"version": 1, "sha256Hash": sha256(text)}},
            },
        ),
        await post(trusted, {"query": text, "variables": variables}),
        # Re-indented, as a generated client embeds it: still the registered document.
        await post(
            trusted, {"query": "\n    " + text.replace("\n", "\n    "), "variables": variables}
        ),
        await trusted.client.get(
            "/graphql",
            params={"documentId": page, "variables": json.dumps(variables)},
            headers=headers(),
        ),
    ]
    assert [a.status_code for a in answers] == [200] * len(answers)
    bodies = [a.json() for a in answers]
    assert len(bodies[0]["data"]["jobs"]["edges"]) == 3
    assert all(body == bodies[0] for body in bodies)


async def test_a_registered_mutation_runs_by_id(
    env: Env, trusted: Env, manifest: dict[str, str]
) -> None:
    waiting = await env.data("{ jobs(first: 1, tql: \"status = 'Waiting'\") { nodes { id } } }")
    job_id = waiting["jobs"]["nodes"][0]["id"]  # asked of the app without the mode
    cancel = {"documentId": id_of(manifest, "CancelJob"), "variables": {"id": job_id}}
    body = (await post(trusted, cancel, key="demo.analyze")).json()
    assert body["data"]["cancelJob"]["status"] == "CANCELLED"


@pytest.mark.parametrize("accept", ["application/json", GRAPHQL_RESPONSE])
async def test_anything_else_is_refused_before_it_is_parsed(trusted: Env, accept: str) -> None:
    status = 400 if accept == GRAPHQL_RESPONSE else 200
    unknown = sha256("{ me { login } }")
    cases = {
        "PERSISTED_QUERY_ONLY": [
            {"query": "{ me { login } }"},
            {"query": "{{{ not even GraphQL"},
            {"query": operation("job_page") + "\n# one more comment"},
        ],
        "PERSISTED_QUERY_NOT_IN_LIST": [
            {"documentId": "nope"},
            {"documentId": f"sha256:{unknown}"},
            {"extensions": {"persistedQuery": {"version": 1, "sha256Hash": unknown}}},
        ],
    }
    for code, bodies in cases.items():
        for body in bodies:
            with trusted.statements() as seen:
                response = await post(trusted, body, accept=accept)
            assert (response.status_code, error_codes(response.json())) == (status, [code]), body
            assert "data" not in response.json()
            assert len(seen) == 1  # the key's lookup, nothing else
    assert len(trusted.app.state.graphql.persisted) == 0  # nothing learnt from the hashes


async def test_malformed_requests_are_400(trusted: Env, manifest: dict[str, str]) -> None:
    page = id_of(manifest, "JobPage")
    for body in (
        {"documentId": page, "query": manifest[page]},  # one or the other
        {"documentId": 7},
        {"documentId": ""},
        {"extensions": {"persistedQuery": {"version": 1, "sha256Hash": "ABC"}}},
    ):
        response = await post(trusted, body)
        assert (response.status_code, error_codes(response.json())) == (400, ["BAD_REQUEST"])


async def test_off_apq_still_works_and_document_ids_are_not_supported(env: Env) -> None:
    text = "query Mine { me { login } }"
    apq = {"persistedQuery": {"version": 1, "sha256Hash": sha256(text)}}
    assert error_codes((await post(env, {"extensions": apq})).json()) == [
        "PERSISTED_QUERY_NOT_FOUND"
    ]
    assert (await post(env, {"query": text, "extensions": apq})).json()["data"]["me"]
    assert (await post(env, {"extensions": apq})).json()["data"]["me"]["login"] == "reader@demo"
    refused = (await post(env, {"documentId": "abc"})).json()
    assert error_codes(refused) == ["PERSISTED_QUERY_NOT_SUPPORTED"]


async def test_over_websocket_only_registered_texts_run(env: Env, tmp_path: Path) -> None:
    """WebSocket operations do not pass the HTTP endpoint's check: the schema's own refuses
    them (after parsing, before validation and execution)."""
    (tmp_path / "live.json").write_text(json.dumps({"updates": UPDATES}))
    async with serve(env, trusted_documents=tmp_path / "live.json") as url:
        async with live(url, "demo.read") as client:
            await client.subscribe("free", UPDATES.replace("actor", "actor attempt"))
            message = await client.next("free")
            assert message["type"] == "error", message
            assert [e["extensions"]["code"] for e in message["payload"]] == ["PERSISTED_QUERY_ONLY"]
            await client.subscribe("registered", UPDATES)
            await client.nothing("registered", 0.5)  # subscribed: no error, no event yet


def test_the_worker_client_sends_registered_texts() -> None:
    """The generated worker client embeds its documents indented: they match all the same."""
    manifest = Manifest(build_manifest([WORKER / "operations"], SCHEMA))
    source = (WORKER / "client" / "client.py").read_text()
    texts = re.findall(r'gql\(\s*"""(.*?)"""', source, re.S)
    assert len(texts) == 7 and all(manifest.allows(text) for text in texts)


def test_a_bad_manifest_stops_the_start_with_one_line(tmp_path: Path) -> None:
    cases = {
        "absent.json": "cannot read the manifest",
        "list.json": "non-empty JSON object",
        "numbers.json": "map an id to a document",
        "text.json": "not JSON",
    }
    (tmp_path / "list.json").write_text("[]")
    (tmp_path / "numbers.json").write_text('{"a": 1}')
    (tmp_path / "text.json").write_text("query { me }")
    for name, words in cases.items():
        with pytest.raises(Exception) as caught:
            Settings(trusted_documents=tmp_path / name)
        line = describe(caught.value)  # type: ignore[arg-type]
        assert line.startswith("invalid settings: JOBQL_TRUSTED_DOCUMENTS:") and words in line


def test_an_apollo_manifest_is_read_too(tmp_path: Path) -> None:
    text = "query Mine { me { login } }"
    apollo = {
        "format": "apollo-persisted-query-manifest",
        "version": 1,
        "operations": [{"id": "mine-1", "name": "Mine", "type": "query", "body": text}],
    }
    (tmp_path / "apollo.json").write_text(json.dumps(apollo))
    manifest = Manifest.load(Settings(trusted_documents=tmp_path / "apollo.json").trusted_documents)  # type: ignore[arg-type]
    assert manifest.find("mine-1") == text and manifest.by_sha256[sha256(text)] == text


async def test_the_start_up_line_says_which_documents_run(env: Env, tmp_path: Path) -> None:
    (tmp_path / "one.json").write_text(json.dumps({"mine": "query Mine { me { login } }"}))
    off = await startup_report(env.settings)
    on = await startup_report(
        env.settings.model_copy(update={"trusted_documents": tmp_path / "one.json"})
    )
    assert off[-1] == "documents: any (automatic persisted queries: 1000 kept)"
    assert on[-1] == f"documents: trusted only, 1 in {tmp_path / 'one.json'}"


def test_the_command_writes_the_manifest_or_says_what_is_wrong(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from app.cli import main

    out = tmp_path / "trusted.json"
    assert main(["trusted-documents", str(OPERATIONS), "-o", str(out)]) == 0
    assert json.loads(out.read_text()) == build_manifest([OPERATIONS], SCHEMA)
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "a.graphql").write_text("query A { me { login } }")
    (tmp_path / "bad" / "b.graphql").write_text("query A { me { nope } }")
    assert main(["trusted-documents", str(tmp_path / "bad")]) == 2
    error = capsys.readouterr().err
    assert "There can be only one operation named 'A'" in error and "nope" in error
    assert main(["trusted-documents", str(tmp_path / "absent")]) == 2
