"""Generates the worker's typed client, app/worker/client/, from schema.graphql (or checks it).

From the repository root, with the app's virtual environment:
  .venv/bin/python tests/codegen/worker_client.py           regenerate app/worker/client/
  .venv/bin/python tests/codegen/worker_client.py --check   exit 1 if it differs from a fresh one
ariadne-codegen runs in .venv-codegen (see generate.py), built on first use.
"""

from __future__ import annotations

import filecmp
import shutil
import sys
import tempfile
import tomllib
from pathlib import Path

from generate import ROOT, GenerationError, codegen_venv, run  # type: ignore[import-not-found]

CONFIG = ROOT / "app" / "worker" / "ariadne-codegen.toml"
PACKAGE = ROOT / "app" / "worker" / "client"


def generate(target: Path) -> Path:
    """The package generated into `target` (a folder), with the committed configuration."""
    settings = tomllib.loads(CONFIG.read_text())["tool"]["ariadne-codegen"]
    lines = ["[tool.ariadne-codegen]"]
    for name, value in settings.items():
        if isinstance(value, dict):
            continue
        if name in ("schema_path", "queries_path"):
            value = str(ROOT / value)
        elif name == "target_package_path":
            value = str(target)
        lines.append(f"{name} = {_toml(value)}")
    for scalar, mapping in settings["scalars"].items():
        lines += [f"[tool.ariadne-codegen.scalars.{scalar}]", f"type = {_toml(mapping['type'])}"]
    config = target / "ariadne-codegen.toml"
    config.write_text("\n".join(lines) + "\n")
    run([codegen_venv() / "ariadne-codegen", "client", "--config", config])
    return target / settings["target_package_name"]


def _toml(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return "[" + ", ".join(_toml(v) for v in value) + "]"
    return '"' + str(value).replace("\\", "\\\\").replace('"', '\\"') + '"'


def differences(fresh: Path, committed: Path) -> list[str]:
    if not committed.is_dir():
        return [f"{committed} is missing"]
    found = []
    comparison = filecmp.dircmp(fresh, committed, ignore=["__pycache__"])
    found += [f"missing: {name}" for name in comparison.left_only]
    found += [f"not generated: {name}" for name in comparison.right_only]
    _, mismatch, errors = filecmp.cmpfiles(fresh, committed, comparison.common_files, shallow=False)
    found += [f"differs: {name}" for name in mismatch + errors]
    return found


def main(argv: list[str]) -> int:
    with tempfile.TemporaryDirectory(prefix="jobql-worker-client-") as scratch:
        try:
            fresh = generate(Path(scratch))
        except GenerationError as error:
            print(f"codegen FAILED: {error}", file=sys.stderr)
            return 1
        if "--check" in argv:
            found = differences(fresh, PACKAGE)
            for line in found:
                print(f"app/worker/client: {line}", file=sys.stderr)
            if found:
                print(
                    "regenerate: .venv/bin/python tests/codegen/worker_client.py", file=sys.stderr
                )
            return 1 if found else 0
        shutil.rmtree(PACKAGE, ignore_errors=True)
        shutil.copytree(fresh, PACKAGE, ignore=shutil.ignore_patterns("__pycache__"))
    print(f"generated {PACKAGE.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
