"""The worker's committed typed client is what ariadne-codegen makes of schema.graphql today."""

from __future__ import annotations

import fcntl
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LOCK = ROOT / "tests" / "artifacts" / "codegen.lock"  # shared with test_codegen: one .venv-codegen
GENERATE_SECONDS = 600  # a first run builds .venv-codegen from PyPI
OPERATION = re.compile(r"^(?:query|mutation|subscription) (\w+)", re.M)


def test_committed_worker_client_is_up_to_date() -> None:
    LOCK.parent.mkdir(parents=True, exist_ok=True)
    with LOCK.open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        result = subprocess.run(
            [sys.executable, str(ROOT / "tests" / "codegen" / "worker_client.py"), "--check"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=GENERATE_SECONDS,
            check=False,
        )
    assert result.returncode == 0, f"{result.stdout}\n{result.stderr}"


def test_every_worker_operation_is_in_the_client() -> None:
    """An operation file added or renamed without regenerating shows here, even without codegen."""
    folder = ROOT / "app" / "worker" / "operations"
    texts = [path.read_text() for path in folder.glob("*.graphql")]
    names = sorted(name for text in texts for name in OPERATION.findall(text))
    assert names == [
        "ClaimJobs",
        "CompleteJob",
        "FailJob",
        "Heartbeat",
        "ReleaseJob",
        "WorkerAnalyzers",
        "WorkerControl",
    ]
    client = (ROOT / "app" / "worker" / "client" / "client.py").read_text()
    assert sorted(re.findall(r'operation_name="(\w+)"', client)) == names
