"""Generates the typed clients from schema.graphql and tests/operations/client, and checks them.

Run from anywhere: `python tests/codegen/generate.py` (the app's virtual environment, which has
mypy). It writes, into the git-ignored tests/codegen/generated/:
  jobql_client/   a typed async Python client, by ariadne-codegen in its own .venv-codegen
  graphql.ts      TypeScript types, by @graphql-codegen (typescript + typescript-operations)
then checks the usage examples beside this file with `tsc --noEmit` and `mypy --strict`.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
HERE = ROOT / "tests" / "codegen"
GENERATED = HERE / "generated"
CODEGEN_VENV = ROOT / ".venv-codegen"
REQUIREMENTS = HERE / "requirements.txt"
BIN = "Scripts" if os.name == "nt" else "bin"


class GenerationError(Exception):
    """A step failed or a tool is missing; the message says which and how to fix it."""


def run(command: list[str | Path], *, env: dict[str, str] | None = None) -> None:
    print("$", " ".join(str(part) for part in command), flush=True)
    result = subprocess.run(command, cwd=ROOT, env=env, check=False)
    if result.returncode != 0:
        raise GenerationError(f"{Path(command[0]).name} failed with exit code {result.returncode}")


def codegen_venv() -> Path:
    """.venv-codegen with the pinned ariadne-codegen; rebuilt when requirements.txt changes."""
    stamp = CODEGEN_VENV / "requirements.txt"
    wanted = REQUIREMENTS.read_text()
    if not stamp.is_file() or stamp.read_text() != wanted:
        run([sys.executable, "-m", "venv", "--clear", CODEGEN_VENV])
        pip = [CODEGEN_VENV / BIN / "python", "-m", "pip", "--disable-pip-version-check"]
        run([*pip, "install", "--quiet", "-r", REQUIREMENTS])
        stamp.write_text(wanted)
    return CODEGEN_VENV / BIN


def node_tool(name: str) -> Path:
    tool = ROOT / "node_modules" / ".bin" / name
    if not tool.exists():
        raise GenerationError(f"{tool} is missing: run `npm ci` in {ROOT}")
    return tool


def generate_python() -> None:
    config = HERE / "ariadne-codegen.toml"
    run([codegen_venv() / "ariadne-codegen", "client", "--config", config])


def generate_typescript() -> None:
    run([node_tool("graphql-codegen"), "--config", HERE / "codegen.yml", "--silent"])


def typecheck() -> None:
    run([node_tool("tsc"), "--noEmit", "-p", HERE / "tsconfig.json"])
    # The app's mypy and pyproject settings (pydantic plugin), with the generated package on
    # the path: usage.py must pass strict mode, and its deliberate errors must still be errors.
    # The generated code is read for its types, its own style is not ours to judge.
    env = {**os.environ, "MYPYPATH": str(GENERATED)}
    strict = [sys.executable, "-m", "mypy", "--strict", "--follow-imports=silent"]
    run([*strict, HERE / "usage.py"], env=env)


def main() -> int:
    if not (ROOT / "schema.graphql").is_file():
        print(f"no schema.graphql in {ROOT}: run `jobql export-schema > schema.graphql`")
        return 1
    shutil.rmtree(GENERATED, ignore_errors=True)
    GENERATED.mkdir(parents=True)
    try:
        generate_python()
        generate_typescript()
        typecheck()
    except GenerationError as error:
        print(f"codegen FAILED: {error}", file=sys.stderr)
        return 1
    print(f"generated and type-checked: {GENERATED.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
