"""Dependencies point one way: main → graphql → services → {db, tql, pagination} → config."""

from __future__ import annotations

import ast
from pathlib import Path

APP = Path(__file__).parents[1] / "app"

# package -> app packages it must never import
FORBIDDEN = {
    "services": {"app.graphql", "app.main", "app.http", "app.uploads", "app.cli"},
    "tql": {"app.graphql", "app.services", "app.main", "app.http", "app.cli"},
    "db": {"app.graphql", "app.services", "app.tql", "app.main", "app.http", "app.cli"},
    "pagination.py": {"app.graphql", "app.services", "app.db", "app.main", "app.http"},
}
NO_WEB = {"strawberry", "starlette"}


def _imports(path: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
    return found


def _files(part: str) -> list[Path]:
    target = APP / part
    return [target] if target.is_file() else sorted(target.rglob("*.py"))


def test_dependency_direction() -> None:
    violations = []
    for part, forbidden in FORBIDDEN.items():
        for path in _files(part):
            for module in _imports(path):
                if any(module == f or module.startswith(f + ".") for f in forbidden):
                    violations.append(f"{path.relative_to(APP)} imports {module}")
    assert not violations, violations


def test_the_worker_is_a_client_only() -> None:
    """app/worker talks to jobql over HTTP like any program would: it imports no server part."""
    violations = [
        f"{path.relative_to(APP)} imports {module}"
        for path in _files("worker")
        for module in _imports(path)
        if (module == "app" or module.startswith("app.")) and not module.startswith("app.worker")
    ]
    assert _files("worker") and not violations, violations


def test_domain_knows_nothing_of_the_web() -> None:
    violations = [
        f"{path.relative_to(APP)} imports {module}"
        for part in ("services", "tql", "db", "pagination.py")
        for path in _files(part)
        for module in _imports(path)
        if module.split(".")[0] in NO_WEB
    ]
    assert not violations, violations
