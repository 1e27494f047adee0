"""`python -m bench` (or `bench/run`): data, servers, an equality check, load, results.md."""

from __future__ import annotations

import argparse
import asyncio
import shlex
import sys
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg  # type: ignore[import-untyped]

from bench import report
from bench.data import JOBQL, NAMES, ROOT, Store, api_key, bodies, prepare
from bench.load import ensure_wrk, wrk_command, wrk_version
from bench.measure import Cell, check_equal, measure
from bench.processes import Server, free_port
from bench.write_report import kept

DATA = Path(__file__).resolve().parent / ".data"
SETTINGS = (
    "- PostgreSQL 15 as shipped, but parallel query off in `jobql_bench` "
    "(`max_parallel_workers_per_gather = 0`), for both targets.\n"
    "- jobql: production settings (pool 10, principal cache 5 s), its per-key rate limit off "
    "(`JOBQL_RATE_LIMIT_PER_SECOND=0`: one key makes all the load).\n"
    "- baseline: asyncpg pool of 10, a checked key trusted for 5 s as jobql does; one statement "
    "for a page joined with its analyzers and reports.\n"
)
UVICORN = str(ROOT / ".venv" / "bin" / "uvicorn")
PG_URL = "postgresql+asyncpg://postgres@127.0.0.1:5432/jobql_bench"


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    p.add_argument("--jobs", type=int, default=1_000_000, help="synthetic jobs in each database")
    p.add_argument("--postgres-url", default=PG_URL, help="a database this benchmark may own")
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--warmup", type=float, default=3.0, help="seconds before each timed run")
    p.add_argument("--seconds", type=float, default=10.0, help="seconds of each timed run")
    p.add_argument("--connections", type=int, default=16)
    p.add_argument("--queries", default=",".join(NAMES), help="e.g. q1,q3")
    p.add_argument("--no-workers", action="store_true", help="skip the --workers 2 table")
    p.add_argument("--no-sqlite", action="store_true", help="skip the SQLite table")
    p.add_argument("--prepare-only", action="store_true", help="build the databases and stop")
    p.add_argument("--output", type=Path, default=Path(__file__).with_name("results.md"))
    return p


def _servers(store: Store, workers: int, logs: Path, *, baseline: bool) -> list[Server]:
    jobql = Server(
        "jobql",
        [JOBQL, "serve", "--port", str(port := free_port()), "--workers", str(workers)],
        store.env,
        port,
        logs / f"jobql-{store.name}-{workers}.log",
        store.data_dir,
    )
    if not baseline:
        return [jobql]
    argv = [UVICORN, "bench.baseline:app", "--port", str(port := free_port())]
    argv += ["--workers", str(workers), "--loop", "uvloop", "--http", "httptools"]
    argv += ["--no-access-log", "--no-server-header", "--log-level", "warning"]
    env = {**store.env, "BENCH_DSN": store.dsn}
    return [jobql, Server("baseline", argv, env, port, logs / f"baseline-{workers}.log", ROOT)]


def _section(
    args: argparse.Namespace, store: Store, workers: int, queries: Sequence[str], wrk: str
) -> dict[tuple[str, str], Cell]:
    logs = DATA / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    key = api_key(store)
    files = {name: path for name, path in bodies(store, DATA / "bodies").items() if name in queries}
    servers = _servers(store, workers, logs, baseline=store.name == "postgresql")
    print(f"[{store.name}, {workers} worker(s)] {', '.join(s.name for s in servers)}", flush=True)
    try:
        for server in servers:
            server.start()
        check_equal(servers, files, key, DATA)
        return measure(
            wrk,
            servers,
            files,
            key,
            database=store.database if store.name == "postgresql" else None,
            rounds=args.rounds,
            warmup=args.warmup,
            seconds=args.seconds,
            connections=args.connections,
        )
    finally:
        for server in servers:
            server.stop()


async def _postgres_version(store: Store) -> str:
    conn = await asyncpg.connect(store.dsn)
    try:
        return "PostgreSQL " + str(await conn.fetchval("SHOW server_version"))
    finally:
        await conn.close()


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    queries = [q.strip() for q in args.queries.split(",") if q.strip()]
    wrk = ensure_wrk()
    started = datetime.now(UTC)
    postgres = Store("postgresql", args.postgres_url, DATA / "postgresql")
    sqlite = Store("sqlite", f"sqlite+aiosqlite:///{DATA / 'sqlite' / 'jobql.db'}", DATA / "sqlite")
    made = {"postgresql": prepare(postgres, args.jobs)}
    if not args.no_sqlite:
        made["sqlite"] = prepare(sqlite, args.jobs)
    if args.prepare_only:
        return 0
    plan = [("PostgreSQL, one process each", postgres, 1, ["jobql", "baseline"])]
    if not args.no_workers:
        plan.append(("PostgreSQL, `--workers 2` each", postgres, 2, ["jobql", "baseline"]))
    if not args.no_sqlite:
        plan.append(
            ("SQLite (the embedded default), jobql only, one process", sqlite, 1, ["jobql"])
        )
    sections: list[tuple[str, dict[tuple[str, str], Cell]]] = []
    targets = {title: names for title, _, _, names in plan}
    for title, store, workers, _ in plan:
        sections.append((title, _section(args, store, workers, queries, wrk)))
        # Written after each table, so a later failure keeps what was measured.
        text = _results(args, started, made, sections, targets, queries, wrk, postgres, argv)
        write_side = kept(args.output)  # python -m bench.write's section stays
        args.output.write_text(text + ("\n" + write_side if write_side else ""))
        print(f"wrote {args.output}", flush=True)
    return 0


def _results(
    args: argparse.Namespace,
    started: datetime,
    made: dict[str, dict[str, object]],
    sections: list[tuple[str, dict[tuple[str, str], Cell]]],
    targets: dict[str, list[str]],
    queries: Sequence[str],
    wrk: str,
    postgres: Store,
    argv: Sequence[str] | None,
) -> str:
    command = "bench/run " + shlex.join(list(argv if argv is not None else sys.argv[1:]))
    lines = [
        "# Benchmark results",
        "",
        f"Run {started:%Y-%m-%d %H:%M} UTC with `{command.strip()}`: {args.rounds} rounds of "
        f"({args.warmup:g} s warm-up + {args.seconds:g} s timed) per query and target, "
        f"{args.connections} connections, targets alternating query by query. Figures are the "
        "median over rounds; CPU per request is over all rounds. Machine: "
        f"{report.machine()}, shared with other work while it ran.",
        "",
    ]
    for name, info in made.items():
        seeded: Any = info["seeded"]
        how = (
            f"seeded {seeded['jobs']:,} jobs in {seeded['seconds']} s on {seeded['at']}"
            if seeded
            else "reused"
        )
        lines.append(f"- {name}: {info['jobs']:,} synthetic jobs ({how})")
    for title, cells in sections:
        lines += ["", f"## {title}", "", report.table(cells, queries, targets[title])]
    lines += [
        "## Versions",
        "",
        report.versions(wrk_version(wrk), asyncio.run(_postgres_version(postgres))),
    ]
    lines += ["## Settings", "", SETTINGS]
    lines += [
        "## Commands",
        "",
        f"- jobql: `{JOBQL.replace(str(ROOT) + '/', '')} serve --port PORT --workers N` with "
        "`JOBQL_DATABASE_URL` set (production settings otherwise: no reload, no access log)",
        "- baseline: `.venv/bin/uvicorn bench.baseline:app --port PORT --workers N --loop uvloop "
        "--http httptools --no-access-log` with `BENCH_DSN` set",
        f"- load: `{wrk_command(args.connections, args.seconds)}`",
        "",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
