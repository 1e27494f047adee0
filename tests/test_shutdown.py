"""Graceful shutdown of a real `jobql serve`: SIGTERM lets the request in flight finish, refuses
new ones, and leaves the database consistent."""

from __future__ import annotations

import json
import signal
import socket
import sqlite3
import subprocess
import time
from pathlib import Path

import httpx
import pytest

from tests.live_server import (
    free_port,
    jobql_command,
    read_key,
    read_logs,
    server_env,
    stop,
    wait_until_up,
)

GRACE_SECONDS = 12


def read_until_closed(sock: socket.socket, timeout: float) -> bytes:
    sock.settimeout(timeout)
    chunks = []
    while chunk := sock.recv(65536):
        chunks.append(chunk)
    return b"".join(chunks)


def test_sigterm_lets_the_request_in_flight_finish(tmp_path: Path) -> None:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = server_env() | {"JOBQL_SHUTDOWN_GRACE_SECONDS": str(GRACE_SECONDS)}
    command = [jobql_command(), "serve", "--demo", "--host", "127.0.0.1", "--port", str(port)]
    with (tmp_path / "stdout.log").open("wb") as out, (tmp_path / "stderr.log").open("wb") as err:
        process = subprocess.Popen(command, cwd=tmp_path, env=env, stdout=out, stderr=err)
    try:
        wait_until_up(url, process, tmp_path)
        key = read_key((tmp_path / "stdout.log").read_text())
        body = json.dumps({"query": "{ jobs(first: 3) { nodes { id status } } }"}).encode()
        head = (
            f"POST /graphql HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {key}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
        )
        with socket.create_connection(("127.0.0.1", port)) as sock:
            sock.sendall(head.encode() + body[:10])  # the request is in flight: half its body
            time.sleep(0.5)
            stopping = time.monotonic()
            process.send_signal(signal.SIGTERM)
            time.sleep(1.0)
            with pytest.raises(httpx.TransportError):  # no new connection is taken
                httpx.get(f"{url}/healthz", timeout=2)
            sock.sendall(body[10:])
            answer = read_until_closed(sock, timeout=GRACE_SECONDS)
        status, _, rest = answer.partition(b"\r\n")
        assert status == b"HTTP/1.1 200 OK", answer
        payload = json.loads(rest.partition(b"\r\n\r\n")[2])
        assert len(payload["data"]["jobs"]["nodes"]) == 3
        # uvicorn re-raises the signal once shut down, so the exit says "terminated by SIGTERM".
        assert process.wait(timeout=GRACE_SECONDS + 5) in (0, -signal.SIGTERM)
        assert time.monotonic() - stopping < GRACE_SECONDS
    finally:
        if process.poll() is None:
            stop(process)
    logs = read_logs(tmp_path)
    assert "Traceback" not in logs and "ERROR" not in logs, logs
    # The pool was disposed: SQLite checkpointed its log into the file, which is sound.
    wal = tmp_path / "jobql.db-wal"
    assert not wal.exists() or wal.stat().st_size == 0
    with sqlite3.connect(tmp_path / "jobql.db") as db:
        assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        assert db.execute("SELECT count(*) FROM job").fetchone()[0] > 0
