"""The `jobql` command, run as a user would run it."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from app.graphql.schema import schema_sdl
from tests.support import KEYS, Env

JOBQL = [str(Path(sys.executable).parent / "jobql")]


def _run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*JOBQL, *args],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, **(env or {})},
    )


def test_export_schema_prints_the_sdl() -> None:
    result = _run("export-schema")
    assert result.returncode == 0
    assert result.stdout == schema_sdl()


async def test_apikey_create_prints_a_working_key_alone(env: Env) -> None:
    result = _run(
        "apikey",
        "create",
        "--org",
        "acme",
        "--login",
        "bot@acme",
        "--roles",
        "read,analyze",
        env={"JOBQL_DATABASE_URL": env.settings.database_url},
    )
    assert result.returncode == 0, result.stderr
    key = result.stdout.strip()
    assert result.stdout == key + "\n" and key.startswith("jq_")
    me = await env.data("{ me { login organization roles } }", key=key)
    assert me["me"] == {"login": "bot@acme", "organization": "acme", "roles": ["ANALYZE", "READ"]}


async def test_apikey_create_refuses_unknown_organization(env: Env) -> None:
    result = _run(
        "apikey",
        "create",
        "--org",
        "nowhere",
        "--login",
        "x@y",
        env={"JOBQL_DATABASE_URL": env.settings.database_url},
    )
    assert result.returncode == 2
    assert result.stdout == ""
    assert "No organization 'nowhere'" in result.stderr


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def demo_server(tmp_path: Path) -> Iterator[tuple[str, subprocess.Popen[str]]]:
    """`jobql serve --demo` in an empty folder, on the embedded default (SQLite)."""
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("JOBQL_")}
    log = (tmp_path / "server.log").open("w")
    process = subprocess.Popen(
        [*JOBQL, "serve", "--demo", "--port", str(port)],
        cwd=tmp_path,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        text=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(150):
            try:
                if httpx.get(base + "/healthz").status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.1)
        else:
            raise AssertionError(
                "the server did not start: " + (tmp_path / "server.log").read_text()
            )
        yield base, process
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=20)
        log.close()


def test_serve_demo_answers_with_jobs_and_refuses_without_key(
    demo_server: tuple[str, subprocess.Popen[str]], tmp_path: Path
) -> None:
    base, _ = demo_server
    query = {"query": "{ jobs(first: 3) { nodes { id analyzer { name } report { success } } } }"}
    response = httpx.post(
        base + "/graphql", json=query, headers={"Authorization": f"Bearer {KEYS['demo.read']}"}
    )
    nodes = response.json()["data"]["jobs"]["nodes"]
    assert len(nodes) == 3 and all(n["analyzer"]["name"] for n in nodes)
    assert httpx.post(base + "/graphql", json=query).status_code == 401
    assert (tmp_path / "jobql.db").exists() and (tmp_path / "blobs").is_dir()
