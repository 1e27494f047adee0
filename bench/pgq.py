"""`python -m bench.pgq`: the nearest Python peer, pgqueuer, on this machine's PostgreSQL.

pgqueuer publishes about 14,000 jobs/s (its tools/benchmark.py, "throughput": one enqueuer and
five dequeuers, batches of 10, a no-op entrypoint, asyncpg) on bigger machines. This runs the
same shape here, so jobql's queue figures can be set beside it per core:

1. a virtual environment of its own (`bench/.data/pgq-venv`, pgqueuer pinned below: it is not
   one of jobql's dependencies);
2. a scratch database `jobql_bench_pgq`, `python -m pgqueuer install`;
3. for `--seconds`: `--enqueuers` tasks enqueue batches of 10, `--dequeuers` PgQueuer consumers
   run a no-op entrypoint with `batch_size` 10 (each its own connection), one process;
4. prints jobs/s (completions), and the CPU milliseconds per job of that process and of the
   PostgreSQL backends, as bench.write does for jobql.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

PGQUEUER = "pgqueuer==1.6.0"
DATABASE = "jobql_bench_pgq"
VENV = Path(__file__).parent / ".data" / "pgq-venv"


def _venv_python() -> Path:
    python = VENV / "bin" / "python"
    if not (VENV / ".installed").exists():
        subprocess.run([sys.executable, "-m", "venv", str(VENV)], check=True)
        pip = [str(python), "-m", "pip", "install", "--quiet"]
        subprocess.run([*pip, PGQUEUER, "asyncpg"], check=True)
        (VENV / ".installed").write_text(PGQUEUER)
    return python


def _pg_env(host: str, user: str) -> dict[str, str]:
    return {**os.environ, "PGHOST": host, "PGUSER": user, "PGDATABASE": DATABASE}


def run(seconds: float, enqueuers: int, dequeuers: int, host: str, user: str) -> dict[str, Any]:
    """Runs the child in pgqueuer's venv and measures it from outside."""
    # Here, not at the top: the child runs this file in pgqueuer's venv, without jobql.
    from bench.processes import backend_cpu, spent

    python = _venv_python()
    env = _pg_env(host, user)
    admin = {**env, "PGDATABASE": "postgres"}
    for sql in (
        f'DROP DATABASE IF EXISTS "{DATABASE}" WITH (FORCE)',
        f'CREATE DATABASE "{DATABASE}"',
    ):
        subprocess.run(["psql", "-q", "-c", sql], env=admin, check=True)
    subprocess.run(
        [str(python), "-m", "pgqueuer", "install"], env=env, check=True, capture_output=True
    )
    argv = [str(python), __file__, "--child", str(seconds), str(enqueuers), str(dequeuers)]
    pipes = {"stdin": subprocess.PIPE, "stdout": subprocess.PIPE}
    child = subprocess.Popen(argv, env=env, text=True, **pipes)  # type: ignore[call-overload]
    assert child.stdin is not None and child.stdout is not None
    assert child.stdout.readline().strip() == "timing"  # warmed up: the timed part starts
    before = backend_cpu(DATABASE)
    result: dict[str, Any] = json.loads(child.stdout.readline())
    pg_seconds = spent(before, backend_cpu(DATABASE))  # its backends are still there
    child.stdin.close()  # now it may go
    child.wait(timeout=60)
    jobs = max(1, result["jobs"])
    result["client_cpu_ms_per_job"] = result.pop("cpu_seconds") * 1000 / jobs
    result["pg_cpu_ms_per_job"] = pg_seconds * 1000 / jobs
    result["pgqueuer"] = PGQUEUER
    return result


async def _child(seconds: float, enqueuers: int, dequeuers: int) -> None:
    """In pgqueuer's venv: its throughput benchmark's shape, counted by completions."""
    import resource

    import asyncpg  # type: ignore[import-untyped]
    from pgqueuer import AsyncpgDriver, PgQueuer, Queries  # type: ignore[import-not-found]

    done = 0
    stop = asyncio.Event()

    async def enqueue() -> None:
        queries = Queries(AsyncpgDriver(await asyncpg.connect()))
        while not stop.is_set():
            await queries.enqueue(["fetch"] * 10, [b"x"] * 10, [0] * 10)

    consumers = []
    for _ in range(dequeuers):
        pgq = PgQueuer(AsyncpgDriver(await asyncpg.connect()))

        @pgq.entrypoint("fetch")  # type: ignore[untyped-decorator]
        async def fetch(job: Any) -> None:
            nonlocal done
            done += 1

        consumers.append(pgq)
    tasks = [asyncio.create_task(enqueue()) for _ in range(enqueuers)]
    tasks += [asyncio.create_task(pgq.run(batch_size=10)) for pgq in consumers]
    await asyncio.sleep(2)  # warm-up, not counted
    print("timing", flush=True)
    start, counted, cpu = time.monotonic(), done, _cpu(resource)
    await asyncio.sleep(seconds)
    jobs, elapsed, cpu = done - counted, time.monotonic() - start, _cpu(resource) - cpu
    print(
        json.dumps({"jobs": jobs, "seconds": elapsed, "rate": jobs / elapsed, "cpu_seconds": cpu})
    )
    sys.stdout.flush()
    await asyncio.to_thread(sys.stdin.read)  # the parent has read its backends' CPU
    os._exit(0)  # consumers still draining their last batch need not finish


def _cpu(resource: Any) -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return float(usage.ru_utime + usage.ru_stime)


def main() -> None:
    if sys.argv[1:2] == ["--child"]:
        seconds, enqueuers, dequeuers = float(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
        asyncio.run(_child(seconds, enqueuers, dequeuers))
        return
    parser = argparse.ArgumentParser(prog="python -m bench.pgq", description=__doc__)
    parser.add_argument("--seconds", type=float, default=15)
    parser.add_argument("--enqueuers", type=int, default=1)
    parser.add_argument("--dequeuers", type=int, default=5)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--user", default="postgres")
    args = parser.parse_args()
    print(json.dumps(run(args.seconds, args.enqueuers, args.dequeuers, args.host, args.user)))


if __name__ == "__main__":
    main()
