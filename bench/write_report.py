"""The `## Write side (queue)` section of bench/results.md: written in place, the rest kept."""

from __future__ import annotations

import argparse
import os
import statistics
from datetime import datetime
from pathlib import Path
from typing import Any

HEADING = "## Write side (queue)"
AIMS = {"claims": 2000, "flow": 500, "p99": 50}


def _median(values: list[float]) -> float:
    return statistics.median(values) if values else 0.0


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return 1000 * ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else 0.0


def _mark(ok: bool) -> str:
    return "✅" if ok else "❌"


def _claims(rounds: list[dict[str, Any]]) -> list[str]:
    rows = [
        "| target | claims/s (median) | per round | calls/s | p50 ms / call | p99 ms / call "
        "| server CPU ms/claim | PostgreSQL CPU ms/claim | errors | load (1 min) |",
        "|---|---:|---|---:|---:|---:|---:|---:|---:|---|",
    ]
    for target in ("jobql", "raw"):
        got = [r[target] for r in rounds]
        rates = [m.rate for m in got]
        latencies = [x for m in got for x in (m.run.latencies or [])]
        calls = _median([m.run.calls / m.run.seconds for m in got])
        server = _median([m.per_job_ms(m.server_cpu) for m in got])
        db = _median([m.per_job_ms(m.db_cpu) for m in got])
        name = "jobql `claimJobs` (HTTP)" if target == "jobql" else "raw SQL (asyncpg)"
        aim = f" {_mark(_median(rates) >= AIMS['claims'])}" if target == "jobql" else ""
        rows.append(
            f"| {name} | **{_median(rates):,.0f}**{aim} | {', '.join(f'{r:,.0f}' for r in rates)} "
            f"| {calls:,.0f} | {_percentile(latencies, 0.5):.1f} "
            f"| {_percentile(latencies, 0.99):.1f} "
            f"| {server:.2f} | {db:.2f} | {sum(m.run.errors for m in got)} "
            f"| {', '.join(f'{m.load:.2f}' for m in got)} |"
        )
    jobql = _median([r["jobql"].rate for r in rounds])
    raw = _median([r["raw"].rate for r in rounds])
    ratio = jobql / raw if raw else 0.0
    return [*rows, "", f"jobql/raw: **{ratio:.2f}** (medians)."]


def _flows(results: dict[str, Any]) -> list[str]:
    rows = [
        "| server | jobs/s (median) | per round | server CPU ms/job | PostgreSQL CPU ms/job "
        "| errors | load (1 min) |",
        "|---|---:|---|---:|---:|---:|---|",
    ]
    for workers in (1, 2):
        got = results.get(f"flow-{workers}")
        if not got:
            continue
        rates = [m.rate for m in got]
        aim = f" {_mark(_median(rates) >= AIMS['flow'])}" if workers == 1 else ""
        rows.append(
            f"| {'one process' if workers == 1 else '`--workers 2`'} | **{_median(rates):,.0f}**"
            f"{aim} | {', '.join(f'{r:,.0f}' for r in rates)} "
            f"| {_median([m.per_job_ms(m.server_cpu) for m in got]):.2f} "
            f"| {_median([m.per_job_ms(m.db_cpu) for m in got]):.2f} "
            f"| {sum(m.run.errors for m in got)} | {', '.join(f'{m.load:.2f}' for m in got)} |"
        )
    for peer in results.get("pgqueuer", []):
        rows.append(
            f"| pgqueuer {peer['pgqueuer'].split('==')[1]} (peer: a library, no HTTP, no report; "
            f"1 enqueuer, 5 consumers, batches of 10) | **{peer['rate']:,.0f}** | "
            f"{peer['rate']:,.0f} | {peer['client_cpu_ms_per_job']:.2f} "
            f"| {peer['pg_cpu_ms_per_job']:.2f} | 0 | |"
        )
    return rows


def _submits(found: dict[str, list[float]]) -> list[str]:
    rows = ["| submitJob | calls | p50 ms | p99 ms | wrong answers |", "|---|---:|---:|---:|---:|"]
    for kind in ("miss", "hit"):
        seconds = found[kind]
        p99 = _percentile(seconds, 0.99)
        rows.append(
            f"| cache {kind} | {len(seconds):,} | {_percentile(seconds, 0.5):.1f} "
            f"| **{p99:.1f}** {_mark(p99 <= AIMS['p99'])} | {sum(found['wrong'])} |"
        )
    return rows


def section(args: argparse.Namespace, started: datetime, results: dict[str, Any]) -> str:
    loads = ", ".join("/".join(f"{x:.2f}" for x in load) for load in results["load"])
    lines = [
        HEADING,
        "",
        f"Run {started:%Y-%m-%d %H:%M} UTC with `python -m bench.write --rounds {args.rounds} "
        f"--seconds {args.seconds:g}` on PostgreSQL over the 1M-job database "
        f"({results['made']['jobs']:,} jobs with the bench's queue); load average "
        f"(1/5/15 min) at start and after each server: {loads} "
        f"({os.cpu_count()} cores, shared). Method: [README](README.md#write-side-queue).",
        "",
        f"### Claims: {args.claimers} claimers, batches of {args.batch}, "
        f"{100_000:,} waiting jobs (aim ≥ {AIMS['claims']:,}/s)",
        "",
        *_claims(results["claims"]),
        "",
        f"### End to end: submit → claim → heartbeat → complete (aim ≥ {AIMS['flow']} jobs/s, "
        "one process)",
        "",
        *_flows(results),
        "",
        f"### submitJob latency, 4 concurrent clients (aim p99 ≤ {AIMS['p99']} ms)",
        "",
        *_submits(results["submits"]),
        "",
    ]
    return "\n".join(lines)


def write_section(path: Path, text: str) -> None:
    """Replaces the section (up to the next `## `) or appends it; the rest stays as it is."""
    old = path.read_text() if path.exists() else ""
    if HEADING not in old:
        path.write_text(old.rstrip("\n") + "\n\n" + text)
        return
    head, rest = old.split(HEADING, 1)
    tail = rest.find("\n## ")
    after = rest[tail + 1 :] if tail >= 0 else ""
    path.write_text(head + text + ("\n" + after if after else ""))


def kept(path: Path) -> str:
    """The section as it stands, for `python -m bench` to keep when it rewrites the file."""
    old = path.read_text() if path.exists() else ""
    if HEADING not in old:
        return ""
    rest = HEADING + old.split(HEADING, 1)[1]
    tail = rest.find("\n## ", len(HEADING))
    return rest[: tail + 1] if tail >= 0 else rest
