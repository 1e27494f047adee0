"""A real `jobql serve [--demo]` in a subprocess, for tests that drive it from outside the app."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx

STARTUP_SECONDS = 90.0
# The settings of whoever runs the tests must not reach the server (a JOBQL_DATABASE_URL would
# point it at their database); the explorer's asset folder is the one exception.
KEPT_JOBQL_VARIABLES = frozenset({"JOBQL_EXPLORER_ASSETS"})


@dataclass(frozen=True)
class LiveServer:
    url: str
    workdir: Path
    demo_keys: dict[str, str]  # login -> key, as `serve --demo` printed them (none without)
    read_key: str  # the demo organization's READ-only key, the one the explorer shows ("" without)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def jobql(workdir: Path, *args: str) -> str:
    """Runs `jobql ARGS` on the database of `workdir`, as the server there sees it; its stdout."""
    done = subprocess.run(
        [jobql_command(), *args],
        cwd=workdir,
        env=server_env(),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"jobql {' '.join(args)} exited {done.returncode}: {done.stderr}")
    return done.stdout


def jobql_command() -> Path:
    command = Path(sys.executable).parent / "jobql"
    if not command.exists():
        raise RuntimeError(f"{command} is missing: install the app (`pip install -e .[test]`)")
    return command


def parse_keys(stdout: str) -> dict[str, str]:
    """`login  ROLES  key` lines from the banner of `jobql serve --demo`."""
    keys = {}
    for line in stdout.splitlines():
        parts = line.split()
        if len(parts) == 3 and "@" in parts[0]:
            keys[parts[0]] = parts[2]
    return keys


def read_key(stdout: str) -> str:
    for line in stdout.splitlines():
        parts = line.split()
        if len(parts) == 3 and parts[0].endswith("@demo") and parts[1] == "READ":
            return parts[2]
    raise RuntimeError(f"no demo READ key in the output of `jobql serve --demo`:\n{stdout}")


def wait_until_up(url: str, process: subprocess.Popen[bytes], logs: Path) -> None:
    deadline = time.monotonic() + STARTUP_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"jobql serve exited with {process.returncode}:\n{read_logs(logs)}")
        with contextlib.suppress(httpx.TransportError):
            httpx.get(f"{url}/graphql/assets/none", timeout=2)
            return
        time.sleep(0.2)
    raise RuntimeError(f"jobql serve did not answer in {STARTUP_SECONDS}s:\n{read_logs(logs)}")


def read_logs(logs: Path) -> str:
    return "\n".join(path.read_text(errors="replace") for path in sorted(logs.glob("*.log")))


def server_env() -> dict[str, str]:
    env = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith("JOBQL_") or name in KEPT_JOBQL_VARIABLES
    }
    env["PYTHONUNBUFFERED"] = "1"
    return env


def stop(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=5)


@contextlib.contextmanager
def live_server(workdir: Path, *, demo: bool = True) -> Iterator[LiveServer]:
    """`jobql serve --demo` (or without --demo) on a free port, with its SQLite file and blobs
    in `workdir`."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    command = [jobql_command(), "serve", *(["--demo"] if demo else [])]
    command += ["--host", "127.0.0.1", "--port", str(port)]
    with (workdir / "stdout.log").open("wb") as out, (workdir / "stderr.log").open("wb") as err:
        process = subprocess.Popen(command, cwd=workdir, env=server_env(), stdout=out, stderr=err)
    try:
        wait_until_up(url, process, workdir)
        stdout = (workdir / "stdout.log").read_text()
        if not demo:
            yield LiveServer(url, workdir, {}, "")
            return
        yield LiveServer(url, workdir, parse_keys(stdout), read_key(stdout))
    finally:
        stop(process)
