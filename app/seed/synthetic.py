"""Synthetic jobs for benchmarks: the demo's shape at any size, bulk-loaded (COPY on PostgreSQL).

`jobql seed --synthetic N` adds N jobs to three organizations (synth-a, synth-b, synth-c: 60, 25
and 15 % of the jobs), creating them with their users, analyzers and files on the first run and
printing one API key per user; later runs append. Rows come from a seeded random generator:
the same database state and N give the same data, dates aside (they are relative to now).
"""

from __future__ import annotations

import asyncio
import sys
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

import asyncpg  # type: ignore[import-untyped]
from sqlalchemy import func, select
from sqlalchemy.engine import make_url

from app.blobs import BlobStore
from app.config import Settings
from app.db.engine import Database
from app.db.models import jobs
from app.seed.catalog import ORGANIZATIONS
from app.seed.generator import TABLES, Chunk, Generator
from app.seed.organizations import prepare_organizations
from app.services import rollup

CHUNK = 20_000  # jobs per transaction
BULK_STATEMENT_MS = 30 * 60 * 1000


async def seed_synthetic(settings: Settings, n: int, *, now: datetime | None = None) -> int:
    """Add `n` synthetic jobs (with reports, artifacts and events); returns `n`."""
    if n < 0:
        raise ValueError("the number of jobs cannot be negative")
    now = now or datetime.now(UTC)
    # A bulk load is not a request: a chunk of 20,000 jobs on a busy machine can take longer
    # than a request's statement budget (on SQLite it was interrupted at 5 s).
    db = Database(settings.model_copy(update={"statement_timeout_ms": BULK_STATEMENT_MS}))
    try:
        orgs, keys = await prepare_organizations(db, BlobStore(settings.blob_dir), now)
        _print_keys(keys)
        mine = jobs.c.organization_id.in_([o.id for o in ORGANIZATIONS])
        async with db.read() as conn:
            existing = await conn.scalar(select(func.count()).where(mine))
        # Seeded by what is already there, so a second run appends new ids instead of colliding.
        seed = f"jobql-synthetic:{existing}"
        generator = Generator(orgs, n, now, seed=seed, sqlite=db.dialect == "sqlite")
        started = time.monotonic()
        if db.dialect == "postgresql":
            await _seed_postgres(settings.database_url, generator, started)
            # The load's counts, appended per COPY, go into jobStats' rollup now, not when a
            # server's sweeper first runs: until then every jobStats would add them up.
            await rollup.fold(db)
        else:
            await _seed_sqlite(db, generator, started)
    finally:
        await db.dispose()
    print(f"Seeded {n:,} synthetic jobs in {time.monotonic() - started:.1f} s", file=sys.stderr)
    return n


async def _pipeline(
    generator: Generator, write: Callable[[Chunk], Awaitable[None]], started: float
) -> None:
    """Writes chunk k while a thread generates chunk k+1, so the database and Python overlap."""
    bounds = [(i, min(i + CHUNK, generator.n)) for i in range(0, generator.n, CHUNK)]
    pending: asyncio.Task[Chunk] | None = None
    for index, (start, stop) in enumerate(bounds):
        chunk = await (pending or asyncio.to_thread(generator.chunk, start, stop))
        if index + 1 < len(bounds):
            pending = asyncio.create_task(asyncio.to_thread(generator.chunk, *bounds[index + 1]))
        await write(chunk)
        if len(bounds) > 1 and (index + 1) % max(1, len(bounds) // 10) == 0:
            elapsed = time.monotonic() - started
            print(f"  {stop:,}/{generator.n:,} jobs, {elapsed:.1f} s", file=sys.stderr)


async def _seed_postgres(database_url: str, generator: Generator, started: float) -> None:
    dsn = make_url(database_url).set(drivername="postgresql").render_as_string(hide_password=False)
    conn = await asyncpg.connect(dsn)
    try:
        # Losing the last chunks in a crash only means seeding again: no need to wait for fsync.
        await conn.execute("SET synchronous_commit = off")

        async def write(chunk: Chunk) -> None:
            async with conn.transaction():
                for table, columns, rows in chunk.tables():
                    if rows:
                        await conn.copy_records_to_table(table, records=rows, columns=columns)

        await _pipeline(generator, write, started)
        # VACUUM sets the visibility map, so counts can be index-only scans, as on a settled
        # database; ANALYZE gives the planner the new distributions.
        for table in TABLES:
            await conn.execute(f"VACUUM (ANALYZE) {table}")
    finally:
        await conn.close()


async def _seed_sqlite(db: Database, generator: Generator, started: float) -> None:
    async def write(chunk: Chunk) -> None:
        async with db.write() as conn:
            for table, columns, rows in chunk.tables():
                if rows:
                    marks = ", ".join("?" for _ in columns)
                    sql = f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({marks})"
                    await conn.exec_driver_sql(sql, rows)

    await _pipeline(generator, write, started)
    async with db.write() as conn:
        await conn.exec_driver_sql("ANALYZE")
    async with db.engine.connect() as conn:
        await conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")


def _print_keys(keys: list[tuple[str, str, Any]]) -> None:
    if not keys:
        return
    print("New API keys (Authorization: Bearer <key>); more with `jobql apikey create`:")
    for login, roles, token in keys:
        print(f"  {login:<18} {roles:<22} {token}")
