"""`python -m bench.write`: the write side (queue) on PostgreSQL over the 1M-job database.

Claims per second (jobql's claimJobs over HTTP beside a raw asyncpg claimer), jobs per second
end to end with one server process and with `--workers 2` beside the nearest Python peer
(pgqueuer, bench/pgq.py), submitJob p50/p99 (miss, hit); the `## Write side (queue)` section
of bench/results.md. Method: bench/README.md.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import asyncpg  # type: ignore[import-untyped]

from bench import claimers, flow, pgq, queue_data
from bench.__main__ import DATA, PG_URL
from bench.data import JOBQL, Store, prepare
from bench.processes import Server, backend_cpu, free_port, spent
from bench.write_report import section, write_section

T = TypeVar("T")
_RUN = "AND status <> 'WAITING'"


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m bench.write", description=__doc__)
    p.add_argument("--jobs", type=int, default=1_000_000)
    p.add_argument("--postgres-url", default=PG_URL)
    p.add_argument("--rounds", type=int, default=2)
    p.add_argument("--seconds", type=float, default=10.0, help="seconds of each timed run")
    p.add_argument("--claimers", type=int, default=8)
    p.add_argument("--batch", type=int, default=10)
    p.add_argument("--submits", type=int, default=1000, help="submitJob calls per latency run")
    p.add_argument("--no-workers", action="store_true", help="skip the --workers 2 run")
    p.add_argument("--no-peer", action="store_true", help="skip pgqueuer (bench/pgq.py)")
    p.add_argument("--output", type=Path, default=Path(__file__).with_name("results.md"))
    return p


@dataclass
class Measured:
    """One run's result with the CPU the server and PostgreSQL spent on it."""

    run: claimers.Run
    server_cpu: float
    db_cpu: float
    load: float = field(default_factory=lambda: os.getloadavg()[0])

    @property
    def rate(self) -> float:
        return self.run.jobs / self.run.seconds if self.run.seconds else 0.0

    def per_job_ms(self, cpu: float) -> float:
        return 1000 * cpu / self.run.jobs if self.run.jobs else 0.0


async def _measured(
    server: Server | None, database: str, work: Callable[[], Awaitable[claimers.Run]]
) -> Measured:
    cpu, db = server.cpu() if server else 0.0, backend_cpu(database)
    run = await work()
    server_cpu = server.cpu() - cpu if server else 0.0
    db_cpu = run.db_cpu if run.db_cpu is not None else spent(db, backend_cpu(database))
    return Measured(run, server_cpu, db_cpu)


def _server(store: Store, workers: int) -> Server:
    port = free_port()
    argv = [JOBQL, "serve", "--port", str(port), "--workers", str(workers)]
    logs = DATA / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    return Server("jobql", argv, store.env, port, logs / f"write-{workers}.log", store.data_dir)


async def _clear_flow(dsn: str) -> None:
    conn = await asyncpg.connect(dsn)
    try:
        await queue_data.clear(conn, queue_data.FLOW)
    finally:
        await conn.close()


async def _claims(args: argparse.Namespace, store: Store, server: Server, key: str) -> list[Any]:
    results = []
    for round_ in range(args.rounds):
        pair = {}
        order = ("raw", "jobql") if round_ % 2 == 0 else ("jobql", "raw")
        for target in order:
            conn = await asyncpg.connect(store.dsn)
            try:
                await queue_data.top_up(conn)
            finally:
                await conn.close()
            if target == "raw":
                work = lambda: claimers.raw(  # noqa: E731
                    store.dsn, store.database, args.claimers, args.batch, args.seconds
                )
                pair[target] = await _measured(None, store.database, work)
            else:
                work = lambda: claimers.http(  # noqa: E731
                    server.url, key, args.claimers, args.batch, args.seconds
                )
                pair[target] = await _measured(server, store.database, work)
            print(f"  claims {target}: {pair[target].rate:,.0f}/s", flush=True)
            # The claimed jobs go now: their leases would expire during the next runs and the
            # server's sweeper would spend them requeuing tens of thousands of jobs.
            conn = await asyncpg.connect(store.dsn)
            try:
                await queue_data.clear(conn, queue_data.CLAIMS, "AND state <> 'QUEUED'", _RUN)
            finally:
                await conn.close()
        results.append(pair)
    return results


async def _flows(
    args: argparse.Namespace, store: Store, server: Server, keys: dict[str, str]
) -> list[Measured]:
    found = []
    for _ in range(args.rounds):
        await _clear_flow(store.dsn)

        def work() -> Awaitable[claimers.Run]:
            return flow.end_to_end(
                server.url, keys["analyze"], keys["worker"],
                submitters=8, workers=4, seconds=args.seconds,
            )  # fmt: skip

        found.append(await _measured(server, store.database, work))
        print(f"  end to end: {found[-1].rate:,.0f} jobs/s", flush=True)
    return found


async def _submits(
    args: argparse.Namespace, store: Store, server: Server, keys: dict[str, str]
) -> dict[str, list[float]]:
    await _clear_flow(store.dsn)
    hits = await flow.prepare_hits(server.url, keys["analyze"], keys["worker"])
    found: dict[str, list[float]] = {"miss": [], "hit": [], "wrong": []}
    for _ in range(args.rounds):
        for kind, data in (("miss", None), ("hit", hits)):
            seconds, wrong = await flow.latencies(
                server.url, keys["analyze"], data, concurrency=4, calls=args.submits
            )
            found[kind] += seconds
            found["wrong"].append(wrong)
    return found


def _run(coroutine: Awaitable[T]) -> T:
    return asyncio.run(coroutine)  # type: ignore[arg-type]


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    started = datetime.now(UTC)
    store = Store("postgresql", args.postgres_url, DATA / "postgresql")
    made = prepare(store, args.jobs)

    async def setup() -> None:
        conn = await asyncpg.connect(store.dsn)
        try:
            await queue_data.analyzers(conn)
        finally:
            await conn.close()

    _run(setup())
    keys = {role: queue_data.key(store, role) for role in ("worker", "analyze")}
    results: dict[str, Any] = {"load": [os.getloadavg()], "made": made}
    for workers in (1,) if args.no_workers else (1, 2):
        server = _server(store, workers)
        print(f"[write side, {workers} process(es)]", flush=True)
        server.start()
        try:
            if workers == 1:
                results["claims"] = _run(_claims(args, store, server, keys["worker"]))
                results["submits"] = _run(_submits(args, store, server, keys))
            results[f"flow-{workers}"] = _run(_flows(args, store, server, keys))
        finally:
            server.stop()
        results["load"].append(os.getloadavg())
    _run(_clear_flow(store.dsn))
    if not args.no_peer:
        print("[pgqueuer, the nearest Python peer]", flush=True)
        results["pgqueuer"] = [pgq.run(args.seconds, 1, 5, "127.0.0.1", "postgres")]
        results["load"].append(os.getloadavg())
    text = section(args, started, results)
    write_section(args.output, text)
    print(text)
    print(f"wrote {args.output}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
