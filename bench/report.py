"""bench/results.md: the tables, and what was measured on what, with which versions."""

from __future__ import annotations

import os
import platform
import sqlite3
import statistics
from collections.abc import Sequence
from importlib.metadata import version
from pathlib import Path

from bench.measure import Cell

TARGETS = {"q1": 0.86, "q2": 0.23, "q3": 0.46, "q4": 0.49}  # PostGraphile 4's ratios
AIMS = {"q1": 0.9, "q2": 0.9, "q3": 0.6, "q4": 0.6}
# Issue 14's aims: Q5 at least 0.8 of the baseline; Q6's is a latency (p50 ≤ 300 ms PostgreSQL,
# ≤ 1 s SQLite), read from the table, so its ratio is shown without a mark.
TARGETS |= {"q5": 0.8}
AIMS |= {"q5": 0.8}


def _ratio(top: float, bottom: float) -> float:
    """top/bottom, 0 when nothing was measured below (a run that failed, or no request done)."""
    return top / bottom if bottom else 0.0


PACKAGES = (
    "strawberry-graphql",
    "graphql-core",
    "starlette",
    "uvicorn",
    "uvloop",
    "httptools",
    "sqlalchemy",
    "asyncpg",
    "aiosqlite",
    "orjson",
)


def table(
    cells: dict[tuple[str, str], Cell], queries: Sequence[str], targets: Sequence[str]
) -> str:
    """One row per query and target; the ratio on jobql's row when a baseline ran too."""
    header = (
        "| query | target | req/s | p50 ms | p99 ms | p99/p50 | server CPU ms/req "
        "| PostgreSQL CPU ms/req | jobql/baseline | per round | to beat / aim |\n"
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---|\n"
    )
    rows = []
    for query in queries:
        for target in targets:
            cell = cells[(query, target)]
            ratio = paired = ""
            if target == "jobql" and (query, "baseline") in cells:
                baseline = cells[(query, "baseline")]
                value = _ratio(cell.rps, baseline.rps)
                mark = "" if query not in TARGETS else "✅" if value > TARGETS[query] else "❌"
                ratio = f"**{value:.2f}** {mark}"
                # Each round measures both targets back to back: their ratio round by round
                # cancels the machine's drift between rounds.
                rounds = [
                    _ratio(j.measure.rps, b.measure.rps)
                    for j, b in zip(cell.samples, baseline.samples, strict=True)
                ]
                paired = (
                    f"{statistics.median(rounds):.2f} ({', '.join(f'{r:.2f}' for r in rounds)})"
                )
            goal = f"{TARGETS[query]} / {AIMS[query]}" if ratio and query in TARGETS else ""
            errors = f" ({cell.errors} errors)" if cell.errors else ""
            rows.append(
                f"| {query.upper()} | {target} | {cell.rps:,.0f}{errors} | {cell.p50:.2f} "
                f"| {cell.p99:.2f} "
                f"| {_ratio(cell.p99, cell.p50):.1f} | {cell.cpu_ms('server_cpu'):.2f} "
                f"| {cell.cpu_ms('db_cpu'):.2f} | {ratio} | {paired} | {goal} |"
            )
    return header + "\n".join(rows) + "\n"


def versions(wrk: str, postgres: str) -> str:
    lines = [
        f"- Python {platform.python_version()} ({platform.python_implementation()}), "
        f"Linux {platform.release()}",
        f"- {postgres}",
        f"- SQLite {sqlite3.sqlite_version}",
        f"- {wrk}",
    ]
    lines.append("- " + ", ".join(f"{name} {version(name)}" for name in PACKAGES))
    return "\n".join(lines) + "\n"


def machine() -> str:
    model = "unknown CPU"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            model = line.split(":", 1)[1].strip()
            break
    memory = 0
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemTotal"):
            memory = int(line.split()[1]) // (1024 * 1024)
    return f"{model}, {os.cpu_count()} cores, {memory} GiB"
