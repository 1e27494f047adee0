"""Operation of a real `jobql serve`: its log lines, its settings errors, CORS in Chromium."""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from app.db.migrate import head_revisions
from tests.conftest import SECRET
from tests.live_server import free_port, jobql_command, server_env, stop
from tests.support import KEYS, Env
from tests.test_explorer import CHROMIUM, ROOT, require_browser_tools

CORS_SCRIPT = ROOT / "tests" / "browser" / "cors.mjs"
JOBS = "query RecentJobs { jobs(first: 2) { edges { node { id } } } }"


def settings_env(env: Env, **more: str) -> dict[str, str]:
    return {
        **server_env(),
        "JOBQL_DATABASE_URL": env.settings.database_url,
        "JOBQL_BLOB_DIR": str(env.settings.blob_dir),
        "JOBQL_SECRET_KEY": SECRET,
        **more,
    }


@contextlib.contextmanager
def jobql_serve(variables: dict[str, str], workdir: Path) -> Iterator[tuple[str, Path]]:
    """`jobql serve` on a free port: (its URL, the file its stderr goes to)."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    err_path = workdir / "stderr.log"
    with err_path.open("wb") as err:
        process = subprocess.Popen(
            [jobql_command(), "serve", "--port", str(port)],
            cwd=workdir,
            env=variables,
            stdout=subprocess.DEVNULL,
            stderr=err,
        )
    try:
        deadline = time.monotonic() + 60
        while True:
            assert process.poll() is None, err_path.read_text()
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(url + "/healthz", timeout=1).status_code == 200:
                    break
            assert time.monotonic() < deadline, err_path.read_text()
            time.sleep(0.1)
        yield url, err_path
    finally:
        stop(process)


def with_password(url: str) -> str:
    """The URL with a password in it (trust auth ignores it), to see it redacted."""
    if url.startswith("postgresql"):
        return url.replace("://postgres@", "://postgres:hunter2-secret@", 1)
    return url


async def test_serve_writes_json_lines_with_start_up_and_access(env: Env, tmp_path: Path) -> None:
    variables = settings_env(
        env,
        JOBQL_LOG_FORMAT="json",
        JOBQL_DATABASE_URL=with_password(env.settings.database_url),
    )
    with jobql_serve(variables, tmp_path) as (url, err_path):
        headers = {"Authorization": f"Bearer {KEYS['demo.read']}", "X-Request-Id": "serve-1"}
        response = httpx.post(url + "/graphql", json={"query": JOBS}, headers=headers)
        assert response.status_code == 200 and response.headers["x-request-id"] == "serve-1"
    text = err_path.read_text()
    assert "hunter2" not in text
    lines = [json.loads(line) for line in text.splitlines()]  # every line is JSON
    messages = [line["message"] for line in lines if line["logger"] == "jobql.start"]
    head = ", ".join(sorted(head_revisions()))
    assert messages[0].startswith("jobql 0.")
    assert messages[1].startswith("database ") and messages[1].endswith(f"at migration {head}")
    if env.backend == "postgres":
        assert "postgres:***@" in messages[1]
    assert any(m.startswith("limits: depth 10, aliases 30, tokens 5000") for m in messages)
    assert "links: from each request; forwarded headers from: 127.0.0.1, ::1" in messages
    (access,) = [line for line in lines if line["logger"] == "jobql.access"][-1:]
    assert access["request_id"] == "serve-1"
    assert (access["method"], access["path"], access["operation"], access["status"]) == (
        "POST",
        "/graphql",
        "RecentJobs",
        200,
    )
    assert access["level"] == "INFO" and access["duration_ms"] >= 0


async def test_serve_text_logs_by_default(env: Env, tmp_path: Path) -> None:
    with jobql_serve(settings_env(env), tmp_path) as (url, err_path):
        httpx.get(url + "/readyz", headers={"X-Request-Id": "plain-7"})
    text = err_path.read_text()
    assert " INFO jobql.access [plain-7] GET /readyz - 200 " in text
    assert " INFO jobql.start [-] jobql 0." in text


@pytest.mark.parametrize(
    ("variables", "expected"),
    [
        ({"JOBQL_POOL_SIZE": "0"}, "JOBQL_POOL_SIZE: Input should be greater than or equal to 1"),
        ({"JOBQL_MAX_PAGE_SIZE": "many"}, "JOBQL_MAX_PAGE_SIZE: Input should be a valid integer"),
        ({"JOBQL_LOG_FORMAT": "xml"}, "JOBQL_LOG_FORMAT: Input should be 'text' or 'json'"),
        ({"JOBQL_CORS_ORIGINS": "https://a.example/path"}, "is not an origin"),
        (
            {"JOBQL_PUBLIC_URL": "ftp://files.example"},
            "JOBQL_PUBLIC_URL: 'ftp://files.example' is not a base URL",
        ),
        ({"JOBQL_TRUSTED_PROXIES": "10.0.0.1,proxy"}, "'proxy' is not an IP address"),
        ({"JOBQL_STATEMENT_TIMEOUT_MS": "60000"}, "time budgets must nest"),
        ({"JOBQL_SECRET_KEY": "short-and-secret"}, "JOBQL_SECRET_KEY: must have at least 32"),
    ],
)
@pytest.mark.parametrize("command", [["serve"], ["db", "upgrade"]])
def test_a_wrong_setting_is_one_line_and_exit_2(
    tmp_path: Path, command: list[str], variables: dict[str, str], expected: str
) -> None:
    result = subprocess.run(
        [jobql_command(), *command],
        cwd=tmp_path,
        env={**server_env(), **variables},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2, result.stderr
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr
    assert result.stderr.startswith("jobql: invalid settings: ") and expected in result.stderr
    assert "short-and-secret" not in result.stderr  # a secret is never echoed
    assert not (tmp_path / "jobql.db").exists()  # refused before anything was made


def test_an_unknown_variable_is_warned_about_with_the_nearest_name(tmp_path: Path) -> None:
    result = subprocess.run(
        [jobql_command(), "export-schema"],
        cwd=tmp_path,
        env={**server_env(), "JOBQL_MAX_PAGESIZE": "10", "JOBQL_ZZZ": "1"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0
    assert result.stderr.splitlines() == [
        "jobql: warning: unknown setting JOBQL_MAX_PAGESIZE ignored "
        "(did you mean JOBQL_MAX_PAGE_SIZE?)",
        "jobql: warning: unknown setting JOBQL_ZZZ ignored",
    ]


async def test_cors_preflight_in_chromium(env: Env, tmp_path: Path) -> None:
    """Chromium's own preflight: the listed origin reads the answer, another cannot."""
    node = require_browser_tools()
    page_port = free_port()
    allowed, other = f"http://127.0.0.1:{page_port}", f"http://localhost:{page_port}"
    variables = settings_env(env, JOBQL_CORS_ORIGINS=f"https://unrelated.example, {allowed}")
    with jobql_serve(variables, tmp_path) as (url, err_path):
        result = subprocess.run(
            [node, str(CORS_SCRIPT)],
            cwd=ROOT,
            env={
                **os.environ,
                "JOBQL_URL": url,
                "JOBQL_KEY": KEYS["demo.read"],
                "PAGE_PORT": str(page_port),
                "CHROMIUM": CHROMIUM,
            },
            capture_output=True,
            text=True,
            timeout=180,
        )
    assert result.returncode == 0, result.stderr
    seen = json.loads(result.stdout.strip().splitlines()[-1])
    assert seen[allowed]["ok"] and seen[allowed]["status"] == 200, seen
    assert seen[allowed]["jobs"] == 2 and seen[allowed]["requestId"]
    assert not seen[other]["ok"] and "Failed to fetch" in seen[other]["error"], seen
    log = err_path.read_text()
    assert " OPTIONS /graphql - 200 " in log  # the browser's preflight, answered
    assert " OPTIONS /graphql - 400 " in log  # the other origin's, refused
