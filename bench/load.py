"""The load generator: Debian's wrk with a Lua script, installed on first use."""

from __future__ import annotations

import json
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

LUA = Path(__file__).with_name("wrk.lua")


@dataclass(frozen=True)
class Measure:
    requests: int
    seconds: float
    errors: int
    p50_ms: float
    p90_ms: float
    p99_ms: float

    @property
    def rps(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0


def ensure_wrk() -> str:
    """The path of wrk, installing Debian's package when it is missing."""
    found = shutil.which("wrk")
    if found:
        return found
    print("wrk is missing: apt-get install -y wrk", flush=True)
    subprocess.run(["apt-get", "update", "-qq"], check=True)
    subprocess.run(["apt-get", "install", "-y", "-qq", "wrk"], check=True)
    found = shutil.which("wrk")
    if not found:
        raise RuntimeError("could not install wrk")
    return found


def wrk_version(wrk: str) -> str:
    result = subprocess.run([wrk, "--version"], capture_output=True, text=True)
    return (result.stdout or result.stderr).splitlines()[0].split(" Copyright")[0].strip()


def run_wrk(
    wrk: str, url: str, body: Path, key: str, *, seconds: float, connections: int
) -> Measure:
    """One closed-loop run: `connections` connections on one wrk thread, for `seconds`."""
    argv = [
        wrk,
        "-t1",
        f"-c{connections}",
        f"-d{seconds:g}s",
        "--timeout",
        "10s",
        "-s",
        str(LUA),
        f"{url}/graphql",
        "--",
        str(body),
        key,
    ]
    result = subprocess.run(argv, capture_output=True, text=True, check=True)
    line = next(x for x in result.stdout.splitlines() if x.startswith("JSON "))
    raw = json.loads(line[5:])
    return Measure(
        requests=raw["requests"],
        seconds=raw["duration_us"] / 1e6,
        errors=raw["errors"] + raw["non2xx"],
        p50_ms=raw["p50_us"] / 1000,
        p90_ms=raw["p90_us"] / 1000,
        p99_ms=raw["p99_us"] / 1000,
    )


def wrk_command(connections: int, seconds: float) -> str:
    """The command line as results.md shows it."""
    return (
        f"wrk -t1 -c{connections} -d{seconds:g}s --timeout 10s -s bench/wrk.lua "
        "http://127.0.0.1:PORT/graphql -- BODY.json KEY"
    )
