"""Rounds of measurement: targets alternate query by query, CPU sampled around each timed run."""

from __future__ import annotations

import statistics
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from bench.load import Measure, run_wrk
from bench.processes import Server, backend_cpu, spent


@dataclass
class Sample:
    measure: Measure
    server_cpu: float  # seconds
    db_cpu: float  # seconds, PostgreSQL backends of the benchmark's database


@dataclass
class Cell:
    """Every round of one query on one target."""

    samples: list[Sample] = field(default_factory=list)

    def _median(self, value: Any) -> float:
        return float(statistics.median(value(s) for s in self.samples))

    @property
    def rps(self) -> float:
        return self._median(lambda s: s.measure.rps)

    @property
    def p50(self) -> float:
        return self._median(lambda s: s.measure.p50_ms)

    @property
    def p99(self) -> float:
        return self._median(lambda s: s.measure.p99_ms)

    def cpu_ms(self, which: str) -> float:
        """CPU milliseconds per request, over all rounds."""
        requests = sum(s.measure.requests for s in self.samples)
        used = sum(getattr(s, which) for s in self.samples)
        return 1000 * used / requests if requests else 0.0

    @property
    def errors(self) -> int:
        return sum(s.measure.errors for s in self.samples)


def post(url: str, body: Path, key: str) -> Any:
    request = urllib.request.Request(
        f"{url}/graphql",
        data=body.read_bytes(),
        headers={
            "Content-Type": "application/json",
            "Accept": "application/json",
            "Authorization": f"Bearer {key}",
        },
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        return orjson.loads(response.read())


def check_equal(servers: Sequence[Server], bodies: dict[str, Path], key: str, out: Path) -> None:
    """Every target answers every request with the same data (and no error), or we stop."""
    for name, body in bodies.items():
        answers = [post(server.url, body, key) for server in servers]
        for server, answer in zip(servers, answers, strict=True):
            if "errors" in answer or not answer.get("data"):
                raise SystemExit(f"{server.name} answered {name} with errors: {answer}")
        if any(answer != answers[0] for answer in answers[1:]):
            for server, answer in zip(servers, answers, strict=True):
                (out / f"mismatch-{name}-{server.name}.json").write_bytes(
                    orjson.dumps(answer, option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS)
                )
            raise SystemExit(f"{name}: the targets disagree; see {out}/mismatch-{name}-*.json")
        print(f"  {name}: {' = '.join(s.name for s in servers)}", flush=True)


def measure(
    wrk: str,
    servers: Sequence[Server],
    bodies: dict[str, Path],
    key: str,
    *,
    database: str | None,
    rounds: int,
    warmup: float,
    seconds: float,
    connections: int,
) -> dict[tuple[str, str], Cell]:
    cells: dict[tuple[str, str], Cell] = {}
    for round_ in range(rounds):
        for index, (name, body) in enumerate(bodies.items()):
            # Alternate who goes first, so drift on a shared machine hits both sides alike.
            order = list(servers) if (round_ + index) % 2 == 0 else list(reversed(servers))
            for server in order:
                run_wrk(wrk, server.url, body, key, seconds=warmup, connections=connections)
                cpu, db = server.cpu(), backend_cpu(database) if database else {}
                result = run_wrk(
                    wrk, server.url, body, key, seconds=seconds, connections=connections
                )
                db_used = spent(db, backend_cpu(database)) if database else 0.0
                sample = Sample(result, server.cpu() - cpu, db_used)
                cells.setdefault((name, server.name), Cell()).samples.append(sample)
                print(
                    f"  round {round_ + 1} {name} {server.name:<8} {result.rps:8.1f} req/s "
                    f"p50 {result.p50_ms:6.2f} ms p99 {result.p99_ms:6.2f} ms",
                    flush=True,
                )
    return cells
