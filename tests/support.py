"""Test helpers: demo keys, a GraphQL client helper, a SQL statement counter."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from graphql import parse, print_ast
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.applications import Starlette

from app.config import Settings
from app.db.engine import Database
from app.document_set import fragments_of, read_set, used_fragments

OPERATIONS = Path(__file__).parent / "operations"
DATA_STATEMENTS = ("select", "insert", "update", "delete", "with")

KEYS = {
    "demo.read": "jq_demoread_read-key-for-the-demo-organization-only",
    "demo.analyze": "jq_demoanalyze_analyze-key-for-the-demo-organization-only",
    "demo.admin": "jq_demoadmin_orgadmin-key-for-the-demo-organization-only",
    "demo.locked": "jq_demolocked_key-of-a-locked-user-in-the-demo-organization",
    "acme.read": "jq_acmeread_read-key-for-the-acme-organization-only",
    "acme.analyze": "jq_acmeanalyze_analyze-key-for-the-acme-organization-only",
    "acme.admin": "jq_acmeadmin_orgadmin-key-for-the-acme-organization-only",
}


def operation(name: str) -> str:
    """A query kept in tests/operations/<name>.graphql, so a rename in the schema breaks loudly,
    with the fragments it spreads from the other files of the set (tests/test_operations.py)."""
    text = (OPERATIONS / f"{name}.graphql").read_text()
    own = fragments_of(parse(text))
    shared = {k: v for k, v in fragments_of(read_set([OPERATIONS])).items() if k not in own}
    missing = used_fragments(parse(text), shared)
    return "\n".join([text, *(print_ast(fragment) for fragment in missing)])


@dataclass
class Env:
    """One test's running app over its own database."""

    backend: str
    settings: Settings
    app: Starlette
    client: httpx.AsyncClient

    @property
    def engine(self) -> AsyncEngine:
        return self.app.state.db.engine  # type: ignore[no-any-return]

    async def post(
        self, query: str, variables: dict[str, Any] | None = None, *, key: str | None = "demo.read"
    ) -> httpx.Response:
        headers = {"Authorization": f"Bearer {KEYS.get(key, key)}"} if key else {}
        body = {"query": query, "variables": variables or {}}
        return await self.client.post("/graphql", json=body, headers=headers)

    async def gql(
        self, query: str, variables: dict[str, Any] | None = None, *, key: str | None = "demo.read"
    ) -> dict[str, Any]:
        """The response body of a request that must succeed at the HTTP level."""
        response = await self.post(query, variables, key=key)
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body

    async def data(
        self, query: str, variables: dict[str, Any] | None = None, *, key: str | None = "demo.read"
    ) -> dict[str, Any]:
        """The `data` of a request that must have no errors."""
        body = await self.gql(query, variables, key=key)
        assert "errors" not in body, body["errors"]
        data: dict[str, Any] = body["data"]
        return data

    @contextlib.contextmanager
    def statements(self) -> Iterator[list[str]]:
        """Collects the data statements the app sends while the block runs."""
        with count_statements(self.app.state.db) as seen:
            yield seen


@contextlib.contextmanager
def count_statements(db: Database) -> Iterator[list[str]]:
    """The statements sent through SQLAlchemy, and those compiled queries send themselves."""
    seen: list[str] = []

    def observe(statement: str, *_: Any) -> None:
        if statement.lstrip().lower().startswith(DATA_STATEMENTS):
            seen.append(statement)

    def record(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        observe(statement)

    event.listen(db.engine.sync_engine, "before_cursor_execute", record)
    db.raw.observers.append(observe)
    try:
        yield seen
    finally:
        event.remove(db.engine.sync_engine, "before_cursor_execute", record)
        db.raw.observers.remove(observe)


@contextlib.contextmanager
def raw_only() -> Iterator[None]:
    """jobStats without its rollup: the plain GROUP BY over job, the rollup's reference."""
    from app.services import rollup

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(rollup, "plan", lambda tree, now: None)
        yield


def error_codes(body: dict[str, Any]) -> list[str]:
    return [e["extensions"]["code"] for e in body.get("errors", [])]


@dataclass
class Template:
    """A migrated database with the demo data, cloned for each test."""

    url: str
    blob_dir: Path
    extra: dict[str, Any] = field(default_factory=dict)


@contextlib.asynccontextmanager
async def twin_env(env: Env, **overrides: Any) -> AsyncIterator[Env]:
    """A second app over `env`'s database and blobs with other settings, and its client."""
    from app.main import create_app  # here: the app imports nothing of the tests

    settings = env.settings.model_copy(update=overrides)
    Settings.model_validate(settings.model_dump())  # the overrides must make valid settings
    app = create_app(settings)
    transport = httpx.ASGITransport(app=app)
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://jobql.test") as client:
            yield Env(backend=env.backend, settings=settings, app=app, client=client)
    finally:
        await app.state.db.dispose()
