"""The operation files validate together, as code generators and Relay's compiler read them:
one document set per folder, no name defined twice, every operation valid on its own."""

from __future__ import annotations

import json
import subprocess
from collections import Counter
from pathlib import Path

import pytest
from graphql import (
    FragmentDefinitionNode,
    OperationDefinitionNode,
    build_schema,
    parse,
    validate,
)

from app.document_set import read_set, standalone
from tests.support import OPERATIONS, operation

ROOT = Path(__file__).resolve().parents[1]
SCHEMA = build_schema((ROOT / "schema.graphql").read_text())
SETS = [OPERATIONS, ROOT / "app" / "worker" / "operations"]


@pytest.mark.parametrize("folder", SETS, ids=lambda f: str(f.relative_to(ROOT)))
def test_the_folder_is_one_valid_document_set(folder: Path) -> None:
    document = read_set([folder])
    names = Counter(
        (type(d).__name__, d.name.value)
        for d in document.definitions
        if isinstance(d, OperationDefinitionNode | FragmentDefinitionNode) and d.name
    )
    assert [name for name, times in names.items() if times > 1] == []
    assert [error.message for error in validate(SCHEMA, document)] == []


@pytest.mark.parametrize("folder", SETS, ids=lambda f: str(f.relative_to(ROOT)))
def test_each_operation_is_valid_with_the_fragments_it_uses(folder: Path) -> None:
    documents = standalone(read_set([folder]))
    assert documents
    for name, text in documents.items():
        assert [e.message for e in validate(SCHEMA, parse(text))] == [], name


def test_a_test_operation_brings_the_shared_fragments_it_spreads() -> None:
    cancel = parse(operation("cancel_job"))
    assert [d.name.value for d in cancel.definitions if d.name] == ["CancelJob", "Lifecycle"]
    assert validate(SCHEMA, cancel) == []


def test_graphql_codegen_types_every_operation_file(tmp_path: Path) -> None:
    """@graphql-codegen over every operation file at once, as a frontend build reads them."""
    tool = ROOT / "node_modules" / ".bin" / "graphql-codegen"
    if not tool.exists():
        pytest.fail(f"{tool} is missing: run `npm ci` in {ROOT}")
    out = tmp_path / "operations.ts"
    config = {
        "schema": str(ROOT / "schema.graphql"),
        "documents": [f"{folder}/**/*.graphql" for folder in SETS],
        "generates": {str(out): {"plugins": ["typescript", "typescript-operations"]}},
    }
    (tmp_path / "codegen.json").write_text(json.dumps(config))
    result = subprocess.run(
        [tool, "--config", tmp_path / "codegen.json", "--silent"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    types = out.read_text()
    for name in ("CancelJobMutation", "LifecycleFragment", "JobPageQuery", "ClaimJobsMutation"):
        assert f"export type {name}" in types
