"""Applies the Alembic migrations; the server runs this at start, the CLI as `db upgrade`."""

from __future__ import annotations

import functools
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory
from sqlalchemy import Connection
from sqlalchemy.ext.asyncio import AsyncConnection, create_async_engine

MIGRATIONS = Path(__file__).parent / "migrations"


def alembic_config(connection: Connection | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["connection"] = connection
    return config


async def upgrade(database_url: str) -> None:
    """Bring the database at `database_url` to the newest revision."""
    engine = create_async_engine(database_url)
    try:
        async with engine.begin() as conn:
            await conn.run_sync(lambda sync: command.upgrade(alembic_config(sync), "head"))
    finally:
        await engine.dispose()


@functools.cache
def head_revisions() -> frozenset[str]:
    """The revisions a fully migrated database is at, read from the migration files once."""
    return frozenset(ScriptDirectory.from_config(alembic_config()).get_heads())


async def current_revisions(conn: AsyncConnection) -> frozenset[str]:
    """The revisions the database says it is at (Alembic's own table)."""
    result = await conn.exec_driver_sql("SELECT version_num FROM alembic_version")
    return frozenset(str(row[0]) for row in result)
