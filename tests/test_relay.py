"""Relay can refetch a Job: its compiler accepts `@refetchable` on Job against schema.graphql,
and the refetch query it writes runs against the server (node(id:)) on both databases."""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.support import KEYS, Env, twin_env

ROOT = Path(__file__).resolve().parents[1]
PROJECT = ROOT / "tests" / "relay"
COMPILER = ROOT / "node_modules" / ".bin" / "relay-compiler"


@pytest.fixture(scope="module")
def persisted(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """The operations Relay's compiler makes of tests/relay, as its persisted-queries file
    ({sha256: text}), compiled in a copy so that nothing lands in the work tree."""
    if not COMPILER.exists():
        pytest.fail(f"{COMPILER} is missing: run `npm ci` in {ROOT}")
    project = tmp_path_factory.mktemp("relay") / "relay"
    shutil.copytree(PROJECT, project, ignore=shutil.ignore_patterns("__generated__", "*.json"))
    config = json.loads((PROJECT / "relay.config.json").read_text())
    config["schema"] = str(ROOT / "schema.graphql")
    (project / "relay.config.json").write_text(json.dumps(config))
    (project / "__generated__").mkdir()
    (project / "persisted.json").write_text("{}")  # the compiler insists that it exists
    result = subprocess.run([COMPILER], cwd=project, capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    texts: dict[str, str] = json.loads((project / "persisted.json").read_text())
    return texts


def refetch_query(persisted: dict[str, str]) -> str:
    (text,) = [t for t in persisted.values() if t.startswith("query JobStatusRefetchQuery")]
    return text


def test_the_compiler_writes_a_refetch_query_through_node(persisted: dict[str, str]) -> None:
    text = refetch_query(persisted)
    assert "node(id: $id)" in text and "fragment JobStatus_job on Job" in text
    for digest, document in persisted.items():  # Relay's file is a trusted-documents manifest
        assert digest == hashlib.sha256(document.encode()).hexdigest()


async def test_the_refetch_query_refetches_a_job(env: Env, persisted: dict[str, str]) -> None:
    job = (await env.data("{ jobs(first: 1) { nodes { id status analyzer { name } } } }"))["jobs"][
        "nodes"
    ][0]
    node = (await env.data(refetch_query(persisted), {"id": job["id"]}))["node"]
    assert node["__typename"] == "Job" and node["id"] == job["id"]
    assert (node["status"], node["analyzer"]["name"]) == (job["status"], job["analyzer"]["name"])


async def test_relays_persisted_file_is_a_trusted_documents_manifest(
    env: Env, persisted: dict[str, str], tmp_path: Path
) -> None:
    """Relay's network layer sends the id its compiler wrote (`params.id`) as documentId."""
    (tmp_path / "relay.json").write_text(json.dumps(persisted))
    job_id = (await env.data("{ jobs(first: 1) { nodes { id } } }"))["jobs"]["nodes"][0]["id"]
    (document_id,) = [k for k, text in persisted.items() if text == refetch_query(persisted)]
    async with twin_env(env, trusted_documents=tmp_path / "relay.json") as trusted:
        response = await trusted.client.post(
            "/graphql",
            json={"documentId": document_id, "variables": {"id": job_id}},
            headers={"Authorization": f"Bearer {KEYS['demo.read']}"},
        )
        assert response.json()["data"]["node"]["id"] == job_id
        refused = await trusted.post("{ jobs(first: 1) { nodes { id } } }")
        assert refused.json()["errors"][0]["extensions"]["code"] == "PERSISTED_QUERY_ONLY"
