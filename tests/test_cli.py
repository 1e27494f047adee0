"""The `jobql` command, run as a user would run it."""

from __future__ import annotations

import asyncio
import getpass
import os
import secrets
import shlex
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select

from app.db.models import audit_events
from app.graphql.schema import schema_sdl
from tests.conftest import POSTGRES_URL, _admin
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


def _db(env: Env) -> dict[str, str]:
    return {"JOBQL_DATABASE_URL": env.settings.database_url}


def _key_of(env: Env, *args: str) -> str:
    result = _run("apikey", "create", *args, env=_db(env))
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


def test_version_and_help_texts_say_what_each_command_needs() -> None:
    version = _run("--version")
    assert version.returncode == 0 and version.stdout.startswith("jobql 0.")
    create = " ".join(_run("apikey", "create", "--help").stdout.split())
    assert "default: read" in create and "(required)" in create and "JOBQL_DATABASE_URL" in create
    assert "default: never" in create
    assert "maxTlp 0-3 defaulting to 2" in " ".join(
        _run("analyzer", "add", "--help").stdout.split()
    )
    missing = _run("org", "create", "x")
    assert missing.returncode == 2 and "--name" in missing.stderr


async def test_apikey_create_gives_an_existing_user_exactly_the_roles_asked(env: Env) -> None:
    key = _key_of(env, "--org", "demo", "--login", "admin@demo", "--roles", "read")
    me = await env.data("{ me { login roles } }", key=key)
    assert me["me"] == {"login": "admin@demo", "roles": ["READ"]}
    body = await env.gql('mutation { purgeJob(id: "x") }', key=key)
    assert body["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    bad = _run("apikey", "create", "--org", "demo", "--login", "x@demo", "--roles", "root")
    assert bad.returncode == 2 and "roles are read, analyze, orgadmin, worker" in bad.stderr


async def test_apikey_expires_list_and_revoke(env: Env) -> None:
    key = _key_of(env, "--org", "acme", "--login", "bot@acme", "--expires", "1d")
    key_id = key.split("_")[1]
    assert (await env.post("{ me { login } }", key=key)).status_code == 200
    listed = _run("apikey", "list", "--org", "acme", env=_db(env))
    assert listed.returncode == 0, listed.stderr
    [line] = [line for line in listed.stdout.splitlines() if line.startswith(key_id)]
    assert "bot@acme" in line and "READ" in line and "revoked -" in line and "expires -" not in line
    assert key.split("_", 2)[2] not in listed.stdout  # never the secret
    assert "demoread" not in listed.stdout  # another organization's keys
    revoked = _run("apikey", "revoke", key_id, env=_db(env))
    assert revoked.returncode == 0, revoked.stderr
    assert (await env.post("{ me { login } }", key=key)).status_code == 401
    unknown = _run("apikey", "revoke", "nosuchkey", env=_db(env))
    assert (unknown.returncode, unknown.stderr) == (2, "jobql: No such API key\n")
    past = _run("apikey", "create", "--org", "acme", "--login", "b@acme", "--expires", "2020-01-01")
    assert past.returncode == 2 and "expiresAt is in the past" in past.stderr
    wrong = _run("apikey", "create", "--org", "acme", "--login", "b@acme", "--expires", "soon")
    assert wrong.returncode == 2 and "expected a duration like 30d" in wrong.stderr


async def test_org_analyzer_and_user_commands_are_audited(env: Env, tmp_path: Path) -> None:
    created = _run("org", "create", "initech", "--name", "Initech", env=_db(env))
    assert created.returncode == 0, created.stderr
    again = _run("org", "create", "initech", "--name", "Initech", env=_db(env))
    assert (again.returncode, again.stderr) == (
        2,
        "jobql: The organization 'initech' exists already\n",
    )
    definition = Path(__file__).parents[1] / "seeds" / "analyzers" / "Abuse_Finder.json"
    add = ("analyzer", "add", "--org", "initech", "--file", str(definition))
    added = _run(*add, env=_db(env))
    assert added.returncode == 0, added.stderr
    analyzer_id = added.stdout.strip()
    assert _run(*add, env=_db(env)).returncode == 2  # the same name and version twice
    listed = _run("analyzer", "list", "--org", "initech", env=_db(env)).stdout
    assert listed.split() == [analyzer_id, "Abuse_Finder_3_0", "ip,domain,fqdn,url,mail", "enabled"]
    broken = tmp_path / "broken.json"
    broken.write_text('{"name": "X", "version": "1"}')
    refused = _run("analyzer", "add", "--org", "initech", "--file", str(broken), env=_db(env))
    assert (refused.returncode, refused.stderr) == (
        2,
        "jobql: dataTypeList is a non-empty list of strings\n",
    )
    key = _key_of(env, "--org", "initech", "--login", "boss@initech", "--roles", "read,orgadmin")
    data = await env.data("{ analyzers { nodes { id name maxTlp dataTypes } } }", key=key)
    assert data["analyzers"]["nodes"] == [
        {
            "id": analyzer_id,
            "name": "Abuse_Finder_3_0",
            "maxTlp": 2,
            "dataTypes": ["ip", "domain", "fqdn", "url", "mail"],
        }
    ]
    lock = ("--org", "initech", "--login", "boss@initech")
    assert _run("user", "lock", *lock, env=_db(env)).returncode == 0
    assert (await env.post("{ me { login } }", key=key)).status_code == 401
    assert _run("user", "unlock", *lock, env=_db(env)).returncode == 0
    assert (await env.post("{ me { login } }", key=key)).status_code == 200
    nobody = _run("user", "lock", "--org", "initech", "--login", "admin@demo", env=_db(env))
    assert (nobody.returncode, nobody.stderr) == (2, "jobql: No user 'admin@demo' in 'initech'\n")
    async with env.app.state.db.read() as conn:
        rows = list(
            await conn.execute(
                select(audit_events.c.action, audit_events.c.actor)
                .where(audit_events.c.organization_id == "initech")
                .order_by(audit_events.c.id)
            )
        )
    assert [action for action, _ in rows] == [
        "CREATE_ORGANIZATION",
        "ADD_ANALYZER",
        "CREATE_API_KEY",
        "LOCK_USER",
        "UNLOCK_USER",
    ]
    assert {actor for _, actor in rows} == {f"cli:{getpass.getuser()}"}


def _readme_recipe() -> list[list[str]]:
    """The commands of README.md's "## PostgreSQL" sh block, as argument lists."""
    readme = (Path(__file__).parents[1] / "README.md").read_text()
    section = readme.split("\n## PostgreSQL\n", 1)[1].split("\n## ", 1)[0]
    block = section.split("```sh\n", 1)[1].split("```", 1)[0]
    return [shlex.split(line) for line in block.splitlines() if line.strip()]


def test_the_readme_postgresql_recipe_works_on_an_empty_database(tmp_path: Path) -> None:
    if not POSTGRES_URL:
        pytest.skip("set JOBQL_TEST_POSTGRES_URL to run against PostgreSQL")
    export, *commands = _readme_recipe()
    assert export[0] == "export" and export[1].startswith("JOBQL_DATABASE_URL=")
    *setup, serve = commands
    assert all(c[0] == "jobql" for c in commands) and serve[1] == "serve"
    name = f"jobql_readme_{secrets.token_hex(6)}"
    asyncio.run(_admin(f'CREATE DATABASE "{name}"'))
    root = Path(__file__).parents[1]
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("JOBQL_")},
        "JOBQL_DATABASE_URL": POSTGRES_URL.rsplit("/", 1)[0] + "/" + name,
        "JOBQL_BLOB_DIR": str(tmp_path / "blobs"),
        "JOBQL_SECRET_FILE": str(tmp_path / "secret"),
    }
    try:
        outputs = []
        for command in setup:
            done = subprocess.run(
                [*JOBQL, *command[1:]],
                cwd=root,
                env=env,
                capture_output=True,
                text=True,
                timeout=60,
            )
            assert done.returncode == 0, (command, done.stderr)
            outputs.append(done.stdout)
        key = outputs[-1].strip()  # the last setup step makes the key, alone on stdout
        assert setup[-1][1:3] == ["apikey", "create"] and key.startswith("jq_")
        port = _free_port()
        _query_served([*JOBQL, *serve[1:], "--port", str(port)], port, key, root, env, tmp_path)
    finally:
        asyncio.run(_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


def _query_served(
    command: list[str], port: int, key: str, root: Path, env: dict[str, str], tmp_path: Path
) -> None:
    log = (tmp_path / "serve.log").open("w")
    process = subprocess.Popen(command, cwd=root, env=env, stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(300):
            try:
                if httpx.get(base + "/healthz").status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.1)
        else:
            raise AssertionError(
                "the server did not start: " + (tmp_path / "serve.log").read_text()
            )
        query = "{ me { organization roles } analyzers { nodes { name } } }"
        response = httpx.post(
            base + "/graphql", json={"query": query}, headers={"Authorization": f"Bearer {key}"}
        )
        assert response.status_code == 200, response.text
        assert response.json()["data"] == {
            "me": {"organization": "acme", "roles": ["ANALYZE", "ORGADMIN", "READ"]},
            "analyzers": {"nodes": [{"name": "Abuse_Finder_3_0"}]},
        }
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=30)
        log.close()


def test_serve_demo_on_a_database_with_data_says_the_demo_keys_may_not_exist(
    env: Env, tmp_path: Path
) -> None:
    port = _free_port()
    log_path = tmp_path / "serve.log"
    with log_path.open("w") as log:
        process = subprocess.Popen(
            [*JOBQL, "serve", "--demo", "--port", str(port)],
            cwd=tmp_path,
            env={**os.environ, **_db(env)},
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        try:
            for _ in range(300):
                if "Explorer:" in log_path.read_text():
                    break
                time.sleep(0.1)
        finally:
            process.send_signal(signal.SIGTERM)
            process.wait(timeout=30)
    text = " ".join(log_path.read_text().split())
    assert "demo data not loaded, so the demo keys below work only if it was loaded before" in text
    assert "to start the demo over, remove the database" in text
