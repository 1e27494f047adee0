"""`python -m bench.profile q4 [seconds]`: where a jobql server spends its time on one request.

Serves the benchmark database with `jobql serve` (one process), loads it with wrk as the
benchmark does, samples it with py-spy (installed into bench/.data/tools on first use) and
prints the functions with the most samples, by own time and by inclusive time.
"""

from __future__ import annotations

import collections
import shutil
import subprocess
import sys
import threading
from collections.abc import Sequence
from pathlib import Path

from bench.__main__ import DATA, PG_URL, _servers
from bench.data import Store, api_key, bodies
from bench.load import ensure_wrk, run_wrk

TOOLS = DATA / "tools"


def py_spy() -> str:
    found = shutil.which("py-spy") or str(TOOLS / "bin" / "py-spy")
    if not Path(found).exists():
        subprocess.run([sys.executable, "-m", "venv", str(TOOLS)], check=True)
        subprocess.run([str(TOOLS / "bin" / "pip"), "install", "-q", "py-spy"], check=True)
    return found


def record(spy: str, pid: int, seconds: float, out: Path) -> None:
    """Samples process `pid` for `seconds` (200 Hz) into `out`, collapsed stacks."""
    subprocess.run(
        [spy, "record", "-p", str(pid), "-d", f"{seconds:g}", "-r", "200"]
        + ["-f", "raw", "-o", str(out), "--nonblocking"],
        check=True,
        capture_output=True,
    )


def top(collapsed: Path, count: int = 25) -> str:
    """The hottest frames of py-spy's collapsed stacks: own samples and inclusive samples."""
    own: collections.Counter[str] = collections.Counter()
    inclusive: collections.Counter[str] = collections.Counter()
    total = 0
    for line in collapsed.read_text().splitlines():
        stack, _, samples = line.rpartition(" ")
        frames = [_short(f) for f in stack.split(";")]
        n = int(samples)
        total += n
        own[frames[-1]] += n
        for frame in set(frames):
            inclusive[frame] += n
    lines = [f"{total} samples", "", "own time:"]
    lines += [f"  {100 * n / total:5.1f} %  {f}" for f, n in own.most_common(count)]
    lines += ["", "inclusive time:"]
    lines += [f"  {100 * n / total:5.1f} %  {f}" for f, n in inclusive.most_common(count)]
    return "\n".join(lines)


def _short(frame: str) -> str:
    """`fn (/long/path/site-packages/pkg/mod.py:12)` → `fn (pkg/mod.py)`."""
    name, _, where = frame.partition(" (")
    path = where.rstrip(")").rsplit(":", 1)[0]
    for marker in ("site-packages/", "/work/main/", "lib/python3"):
        if marker in path:
            path = path.split(marker, 1)[1]
    return f"{name} ({path})"


def main(argv: Sequence[str] | None = None) -> int:
    args = list(argv if argv is not None else sys.argv[1:])
    name, seconds = args[0] if args else "q4", float(args[1]) if len(args) > 1 else 10.0
    store = Store("postgresql", PG_URL, DATA / "postgresql")
    key, files, wrk, spy = api_key(store), bodies(store, DATA / "bodies"), ensure_wrk(), py_spy()
    server = _servers(store, 1, DATA, baseline=False)[0]
    out = DATA / f"profile-{name}.txt"
    server.start()
    try:
        assert server.process is not None
        run_wrk(wrk, server.url, files[name], key, seconds=2, connections=16)
        load = threading.Thread(
            target=run_wrk,
            args=(wrk, server.url, files[name], key),
            kwargs={"seconds": seconds + 2, "connections": 16},
        )
        load.start()
        record(spy, server.process.pid, seconds, out)
        load.join()
    finally:
        server.stop()
    print(top(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
