"""`jobql demo`: `serve --demo` with the reference worker beside it, stopped in the right order.

Ctrl-C in a terminal signals every process of the foreground group at once; the server would
close its port while the worker still needed it to hand its jobs back (they would wait for
their leases to expire, then end TIMEOUT). So both children run in sessions of their own, and
this process stops them in turn: the worker first (it releases its leases), then the server.
When the server stops by itself, the worker is stopped too.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from types import FrameType

STOP_SECONDS = 30.0
# The same Python, the same app, however `jobql` was installed.
_JOBQL = (sys.executable, "-c", "import sys; from app.cli import main; sys.exit(main())")


def run_demo(*, host: str, port: int, worker_key: str) -> int:
    url = f"http://{'127.0.0.1' if host in ('0.0.0.0', '::') else host}:{port}"
    server = _start(["serve", "--demo", "--host", host, "--port", str(port)])
    worker = _start(["worker", "--url", url, "--key", worker_key, "--worker-id", "demo-worker"])
    stopping: list[int] = []

    def stop(signum: int, _: FrameType | None) -> None:
        stopping.append(signum)

    previous = {sig: signal.signal(sig, stop) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        while not stopping and server.poll() is None and worker.poll() is None:
            time.sleep(0.2)
    finally:
        _stop(worker)
        _stop(server)
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return 0 if stopping else (server.returncode or worker.returncode or 0)


def _start(arguments: Sequence[str]) -> subprocess.Popen[bytes]:
    return subprocess.Popen([*_JOBQL, *arguments], start_new_session=True)


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=STOP_SECONDS)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
