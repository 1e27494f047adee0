"""Typed clients generated from schema.graphql: both generators, both type checkers, a live run."""

from __future__ import annotations

import fcntl
import importlib.util
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest
from graphql import (
    GraphQLEnumType,
    GraphQLInputObjectType,
    GraphQLInterfaceType,
    GraphQLNamedType,
    GraphQLObjectType,
    build_schema,
)

from tests.live_server import LiveServer, live_server

ROOT = Path(__file__).resolve().parents[1]
CODEGEN = ROOT / "tests" / "codegen"
GENERATED = CODEGEN / "generated"
LOCK = ROOT / "tests" / "artifacts" / "codegen.lock"
GENERATE_SECONDS = 600  # a first run builds .venv-codegen from PyPI


def described_parts(name: str, kind: GraphQLNamedType) -> Iterator[tuple[str, str | None]]:
    """What a generated client turns into a docstring: the type, its members, their arguments."""
    yield name, kind.description
    if isinstance(kind, GraphQLObjectType | GraphQLInterfaceType):
        for field_name, field in kind.fields.items():
            yield f"{name}.{field_name}", field.description
            for arg, value in field.args.items():
                yield f"{name}.{field_name}({arg})", value.description
    elif isinstance(kind, GraphQLInputObjectType):
        for field_name, input_field in kind.fields.items():
            yield f"{name}.{field_name}", input_field.description
    elif isinstance(kind, GraphQLEnumType):
        for value_name, value in kind.values.items():
            yield f"{name}.{value_name}", value.description


def test_schema_documents_everything_a_generated_client_shows() -> None:
    schema = build_schema((ROOT / "schema.graphql").read_text())
    missing = [
        part
        for name, kind in schema.type_map.items()
        if not name.startswith("__") and name not in ("String", "Int", "Float", "Boolean", "ID")
        for part, description in described_parts(name, kind)
        if not description
    ]
    assert missing == [], f"schema.graphql lacks descriptions for: {', '.join(missing)}"
    for scalar in ("DateTime", "JSON"):  # custom scalars say what travels on the wire
        assert schema.type_map[scalar].description


@pytest.fixture(scope="module")
def generated() -> Iterator[Path]:
    """Runs tests/codegen/generate.py once: both generators, then tsc and mypy on usage files."""
    # Test runs sharing a work tree would regenerate the package under each other's imports:
    # they take turns, each holding the lock until its last codegen test is done.
    LOCK.parent.mkdir(parents=True, exist_ok=True)
    with LOCK.open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        result = subprocess.run(
            [sys.executable, str(CODEGEN / "generate.py")],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=GENERATE_SECONDS,
            check=False,
        )
        if result.returncode != 0:
            pytest.fail(f"codegen failed:\n{result.stdout}\n{result.stderr}")
        yield GENERATED


def test_generators_and_type_checkers_accept_the_schema(generated: Path) -> None:
    client = generated / "jobql_client"
    assert {"client.py", "list_jobs.py", "get_job.py", "me.py"} <= {
        p.name for p in client.iterdir()
    }
    types = (generated / "graphql.ts").read_text()
    for name in ("ListJobsQuery", "GetJobQuery", "MeQuery", "JobFilter", "JobStatus"):
        assert f"export type {name}" in types


def load_usage(generated: Path) -> ModuleType:
    """tests/codegen/usage.py, importing the generated package the way an application would."""
    sys.path.insert(0, str(generated))
    try:
        spec = importlib.util.spec_from_file_location("jobql_client_usage", CODEGEN / "usage.py")
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        return module
    finally:
        sys.path.remove(str(generated))


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    with live_server(tmp_path_factory.mktemp("codegen-server")) as running:
        yield running


async def test_generated_python_client_against_a_live_server(
    generated: Path, server: LiveServer
) -> None:
    usage = load_usage(generated)
    async with usage.connect(f"{server.url}/graphql", server.read_key) as client:
        me = await usage.whoami(client)
        assert (me.organization, [role.value for role in me.roles]) == ("demo", ["READ"])

        files = await usage.finished_jobs(client, data_type="file", first=20)
        assert files and all(job.data_type == "file" and job.data is None for job in files)
        assert all(job.status in usage.FINISHED for job in files)

        succeeded = next(job for job in files if job.status.value == "SUCCESS")
        job = await usage.job_with_report(client, succeeded.id)
        assert job is not None and job.id == succeeded.id
        assert job.report is not None and job.report.success
        assert job.report.summary.taxonomies
        assert job.attachment is not None and len(job.attachment.sha_256) == 64
        assert job.attachment.hashes[0] == job.attachment.sha_256
        assert job.events and job.events[-1].status == job.status
        assert isinstance(usage.malicious_verdicts(job), list)

        ids = [job_id async for job_id in usage.job_ids(client, "dataType = 'ip'", page_size=10)]
        assert len(ids) > 10 and len(ids) == len(set(ids))  # several pages, no duplicates

        error = await usage.tql_error(client, "status = 'Success' and")
        assert error is not None and error["code"] == "BAD_USER_INPUT" and "tql" in error
        assert await usage.tql_error(client, "status = 'Success'") is None
        assert await usage.is_authorized(client)

    async with usage.connect(f"{server.url}/graphql", "jq_not_a_key") as stranger:
        assert not await usage.is_authorized(stranger)
