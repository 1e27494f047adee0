"""Fixtures: each test gets the real app over its own database, SQLite and PostgreSQL.

A migrated database with the demo data is built once per session and cloned per test
(a file copy on SQLite, CREATE DATABASE … TEMPLATE on PostgreSQL), so tests stay independent
and fast. PostgreSQL runs whenever JOBQL_TEST_POSTGRES_URL is set; in CI it must be.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import shutil
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import asyncpg
import httpx
import pytest

from app.blobs import BlobStore
from app.config import Settings
from app.db.engine import Database
from app.db.migrate import upgrade
from app.main import create_app
from app.seed.demo import load_demo
from tests.support import Env, Template

POSTGRES_URL = os.environ.get("JOBQL_TEST_POSTGRES_URL")
SECRET = "test-secret-" + "x" * 40


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    if os.environ.get("CI") and not POSTGRES_URL:
        raise pytest.UsageError("CI must set JOBQL_TEST_POSTGRES_URL: in CI nothing skips")


def _dsn(url: str, database: str | None = None) -> str:
    """An asyncpg DSN from a SQLAlchemy URL, optionally for another database."""
    dsn = url.replace("postgresql+asyncpg://", "postgresql://")
    if database:
        dsn = dsn.rsplit("/", 1)[0] + "/" + database
    return dsn


async def _admin(sql: str) -> None:
    assert POSTGRES_URL
    conn = await asyncpg.connect(_dsn(POSTGRES_URL))
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


async def _build_template(url: str, blob_dir: Path) -> None:
    await upgrade(url)
    db = Database(Settings(database_url=url, blob_dir=blob_dir, secret_key=SECRET))
    try:
        await load_demo(db, BlobStore(blob_dir))
        if db.dialect == "sqlite":
            async with db.engine.connect() as conn:
                await conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        await db.dispose()


@pytest.fixture(scope="session")
def templates(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Template]]:
    root = tmp_path_factory.mktemp("template")
    found = {"sqlite": Template(f"sqlite+aiosqlite:///{root}/demo.db", root / "blobs")}
    asyncio.run(_build_template(found["sqlite"].url, root / "blobs"))
    name = None
    if POSTGRES_URL:
        name = f"jobql_tpl_{secrets.token_hex(4)}"
        asyncio.run(_admin(f'CREATE DATABASE "{name}"'))
        url = POSTGRES_URL.rsplit("/", 1)[0] + "/" + name
        found["postgres"] = Template(url, root / "blobs")
        asyncio.run(_build_template(url, root / "blobs"))
    yield found
    if name:
        asyncio.run(_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture(params=["sqlite", "postgres"])
def backend(request: pytest.FixtureRequest) -> str:
    if request.param == "postgres" and not POSTGRES_URL:
        pytest.skip("set JOBQL_TEST_POSTGRES_URL to run against PostgreSQL")
    return str(request.param)


async def _clone(template: Template, backend: str, tmp_path: Path) -> tuple[str, str | None]:
    """A private copy of the template database: (url, database to drop afterwards)."""
    if backend == "sqlite":
        shutil.copy(template.url.split("///", 1)[1], tmp_path / "jobql.db")
        return f"sqlite+aiosqlite:///{tmp_path}/jobql.db", None
    name = f"jobql_test_{secrets.token_hex(6)}"
    template_name = template.url.rsplit("/", 1)[1]
    await _admin(f'CREATE DATABASE "{name}" TEMPLATE "{template_name}"')
    return template.url.rsplit("/", 1)[0] + "/" + name, name


def make_settings(url: str, tmp_path: Path, **overrides: object) -> Settings:
    # Every request checks its key in the database (statement counts include it), unless a
    # test turns the principal cache on.
    overrides = {"auth_cache_seconds": 0, **overrides}
    return Settings(
        database_url=url,
        blob_dir=tmp_path / "blobs",
        secret_key=SECRET,
        secret_file=tmp_path / "secret",
        **overrides,
    )  # type: ignore[arg-type]


@pytest.fixture
async def env(backend: str, templates: dict[str, Template], tmp_path: Path) -> AsyncIterator[Env]:
    """The app over a fresh copy of the demo database, and a client that talks HTTP to it."""
    url, drop = await _clone(templates[backend], backend, tmp_path)
    shutil.copytree(templates["sqlite"].blob_dir, tmp_path / "blobs")
    settings = make_settings(url, tmp_path)
    app = create_app(settings)
    transport = httpx.ASGITransport(app=app)
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://jobql.test") as client:
            yield Env(backend=backend, settings=settings, app=app, client=client)
    finally:
        await app.state.db.dispose()
        if drop:
            await _admin(f'DROP DATABASE IF EXISTS "{drop}" WITH (FORCE)')


@pytest.fixture
async def empty_settings(backend: str, tmp_path: Path) -> AsyncIterator[Settings]:
    """Settings over a fresh migrated database that holds no data (for seeding tests)."""
    drop = None
    url = f"sqlite+aiosqlite:///{tmp_path}/empty.db"
    if backend == "postgres":
        assert POSTGRES_URL
        drop = f"jobql_empty_{secrets.token_hex(6)}"
        await _admin(f'CREATE DATABASE "{drop}"')
        url = POSTGRES_URL.rsplit("/", 1)[0] + "/" + drop
    try:
        await upgrade(url)
        yield make_settings(url, tmp_path)
    finally:
        if drop:
            await _admin(f'DROP DATABASE IF EXISTS "{drop}" WITH (FORCE)')
