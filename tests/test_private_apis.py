"""Every private API of a dependency that jobql uses (docs/private-apis.md) still exists, and the
installed versions are the ones that list was checked against: an upgrade fails here, loudly."""

from __future__ import annotations

import importlib
import json
from importlib.metadata import version
from pathlib import Path

import pytest

CHECKED = {"strawberry-graphql": "0.341.", "graphql-core": "3.3.", "sqlalchemy": "2.1."}

# (module, dotted attribute path) for each entry of docs/private-apis.md
USED = [
    ("strawberry.schema.schema", "Schema"),
    ("strawberry.schema.schema", "StrawberryGraphQLCoreExecutionContext"),
    ("strawberry.schema.schema", "validate_document"),
    ("strawberry.types.arguments", "convert_arguments"),
    ("graphql.execution.collect_fields", "collect_fields"),
    ("graphql.execution.collect_fields", "collect_subfields"),
    ("graphql.execution.collect_fields", "FieldDetailsList"),
    ("sqlalchemy.sql.elements", "ClauseElement._compile_w_cache"),
    ("sqlalchemy.sql.compiler", "SQLCompiler._process_parameters_for_postcompile"),
    ("sqlalchemy.util", "await_"),
    ("sqlalchemy.util.concurrency", "greenlet_spawn"),
    ("sqlalchemy.util", "LRUCache"),
]


@pytest.mark.parametrize("package", sorted(CHECKED))
def test_installed_version_is_the_checked_one(package: str) -> None:
    assert version(package).startswith(CHECKED[package]), (
        f"{package} is {version(package)}, but docs/private-apis.md was checked against "
        f"{CHECKED[package]}x: re-check each use listed there, then update CHECKED"
    )


@pytest.mark.parametrize(("module", "path"), USED)
def test_private_api_still_exists(module: str, path: str) -> None:
    found: object = importlib.import_module(module)
    for name in path.split("."):
        assert hasattr(found, name), f"{module}.{path} is gone: see docs/private-apis.md"
        found = getattr(found, name)


def test_strawberry_schema_keeps_its_graphql_core_schema() -> None:
    from app.config import Settings
    from app.graphql.schema import build_schema

    schema = build_schema(Settings())
    assert schema._schema.get_type("Job") is not None
    assert schema._schema._strawberry_schema is schema  # type: ignore[attr-defined]
    assert hasattr(schema.schema_converter, "_exception_handler_specs")


def test_graphiql_is_the_checked_version() -> None:
    # app/explorer.js leans on GraphiQL 3.9.0's storage of "Persist headers" (the browser test
    # checks the behaviour): an upgrade re-reads docs/private-apis.md first.
    package = json.loads((Path(__file__).parents[1] / "package.json").read_text())
    assert package["dependencies"]["graphiql"] == "3.9.0"
