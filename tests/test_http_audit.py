"""The graphql-http audit suite (GraphQL-over-HTTP conformance) against a live jobql.

Every audit must pass: MUST (error), SHOULD (warn) and MAY (notice) alike; docs/http.md
records the result. Node and the npm packages are required: missing, the test fails.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

from tests.live_server import live_server

ROOT = Path(__file__).parent.parent
AUDIT = ROOT / "tests" / "http-audit" / "audit.mjs"


def test_graphql_http_audit_passes_every_check(tmp_path: Path) -> None:
    node = shutil.which("node")
    assert node, "node is needed for the graphql-http audit (see the README's set-up)"
    assert (ROOT / "node_modules" / "graphql-http").is_dir(), "run `npm ci` first"
    with live_server(tmp_path) as server:
        run = subprocess.run(
            [node, str(AUDIT), f"{server.url}/graphql", server.read_key],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=120,
        )
    assert run.returncode == 0, run.stderr
    results = json.loads(run.stdout)
    assert len(results) >= 60  # the suite of graphql-http 1.23.1 has 61 audits
    failed = [r for r in results if r["status"] != "ok"]
    assert failed == [], json.dumps(failed, indent=2)
