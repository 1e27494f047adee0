"""Engine and connections. SQLite pragmas and PostgreSQL session settings live here."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any, TypeVar

import orjson
from sqlalchemy import event
from sqlalchemy.engine import Connection
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

from app.config import Settings
from app.db.deadline import interrupt_sqlite_statements, is_deadlock
from app.db.raw import RawReader

log = logging.getLogger("jobql.db")
T = TypeVar("T")
WRITE = "jobql_write"
# A transaction that PostgreSQL rolled back as a deadlock's victim is run again this many
# times in all, after a short random pause, so that the two do not meet again at once.
DEADLOCK_ATTEMPTS = 3
# Set in a connection's info by a transaction that wrote job events (app/services/lifecycle.py).
EVENTS_WRITTEN = "jobql_events_written"


class Database:
    """Hands out short transactions; holds no per-request state, so it is shared by requests.

    Readers and writers each take their own connection: sibling GraphQL fields resolve
    concurrently, and one connection cannot serve two of them at once.
    """

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.engine = _create_engine(settings)
        self.dialect = self.engine.dialect.name
        # Reads are single statements, each its own snapshot: on PostgreSQL they run without
        # BEGIN and COMMIT, which would cost two more round trips per statement.
        self.reader = (
            self.engine
            if self.dialect == "sqlite"
            else self.engine.execution_options(isolation_level="AUTOCOMMIT")
        )
        self.raw = RawReader(self)  # compiled queries read through it
        # SQLite has one writer per file. Writers of this process take turns here, in order,
        # so only one of them at a time waits on the file lock (SQLite's busy handler is not
        # fair: under load, many waiting connections starve some past the busy timeout).
        self._sqlite_writer = asyncio.Lock() if self.dialect == "sqlite" else None
        # Called after a transaction that wrote job events committed: the live hub.
        self.on_events: list[Callable[[], None]] = []
        # Awaited by dispose(), before the engine goes: what uses it (the live hub).
        self.closers: list[Callable[[], Awaitable[None]]] = []

    @asynccontextmanager
    async def read(self) -> AsyncIterator[AsyncConnection]:
        """A read-only unit of work for one statement (one snapshot); nothing to commit."""
        if self.reader is self.engine:
            async with self.engine.connect() as conn:
                async with conn.begin():
                    yield conn
            return
        async with self.reader.connect() as conn:
            yield conn

    @asynccontextmanager
    async def write(self) -> AsyncIterator[AsyncConnection]:
        """A transaction that takes the write lock up front on SQLite (BEGIN IMMEDIATE)."""
        async with contextlib.AsyncExitStack() as stack:
            if self._sqlite_writer is not None:
                await stack.enter_async_context(self._sqlite_writer)
            conn = await stack.enter_async_context(self.engine.connect())
            await conn.execution_options(**{WRITE: True})
            async with self._waking_live_readers(conn), conn.begin():
                yield conn

    @asynccontextmanager
    async def write_statement(self) -> AsyncIterator[AsyncConnection]:
        """A connection for ONE data-modifying statement, which is atomic by itself: on
        PostgreSQL it runs without BEGIN and COMMIT, two round trips fewer than write()
        (SQLite: a write())."""
        if self.dialect != "postgresql":
            async with self.write() as conn:
                yield conn
            return
        async with self.reader.connect() as conn, self._waking_live_readers(conn):
            yield conn

    @asynccontextmanager
    async def _waking_live_readers(self, conn: AsyncConnection) -> AsyncIterator[None]:
        """Around a unit of work on `conn`: once it committed without error, wakes this
        process's live readers if it wrote job events (app/services/lifecycle.py marks it)."""
        try:
            yield
        finally:
            wrote = conn.info.pop(EVENTS_WRITTEN, False)
        if wrote:
            for callback in self.on_events:
                callback()

    async def retrying_deadlocks(self, work: Callable[[], Awaitable[T]]) -> T:
        """`work()`, a whole transaction that may run twice, again if it was a deadlock's
        victim: nothing of the failed attempt stayed, so the caller sees one outcome."""
        for attempt in range(1, DEADLOCK_ATTEMPTS + 1):
            try:
                return await work()
            except DBAPIError as error:
                if attempt == DEADLOCK_ATTEMPTS or not is_deadlock(error):
                    raise
                log.warning("deadlock: transaction rolled back, run again (attempt %d)", attempt)
                await asyncio.sleep(random.uniform(0.01, 0.05) * attempt)
        raise AssertionError("unreachable")

    async def dispose(self) -> None:
        for close in self.closers:
            await close()
        await self.engine.dispose()


def _create_engine(settings: Settings) -> AsyncEngine:
    if settings.is_sqlite:
        return _sqlite_engine(settings)
    return create_async_engine(
        settings.database_url,
        pool_size=settings.pool_size,
        max_overflow=0,
        pool_timeout=settings.pool_timeout_seconds,
        pool_pre_ping=False,
        json_deserializer=orjson.loads,  # JSONB columns: a few times faster than json.loads
        connect_args={
            "server_settings": {
                "statement_timeout": str(settings.statement_timeout_ms),
                "idle_in_transaction_session_timeout": str(settings.statement_timeout_ms * 4),
                "application_name": "jobql",
            }
        },
    )


def _sqlite_engine(settings: Settings) -> AsyncEngine:
    engine = create_async_engine(
        settings.database_url,
        pool_size=settings.pool_size,
        max_overflow=0,
        pool_timeout=settings.pool_timeout_seconds,
        connect_args={"timeout": settings.sqlite_busy_timeout_ms / 1000},
    )
    # SQLite has no statement_timeout: a progress handler stops statements past the budget.
    interrupt_sqlite_statements(engine, settings.statement_timeout_ms)
    busy_ms = settings.sqlite_busy_timeout_ms

    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        # Let SQLAlchemy's "begin" event emit BEGIN itself, so writers can ask for IMMEDIATE.
        dbapi_conn.isolation_level = None
        cursor = dbapi_conn.cursor()
        for pragma in (
            "journal_mode=WAL",
            f"busy_timeout={busy_ms}",
            "foreign_keys=ON",
            "synchronous=NORMAL",
        ):
            cursor.execute(f"PRAGMA {pragma}")
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(conn: Connection) -> None:
        # A deferred transaction that later writes can fail with "database is locked" at once
        # (busy_timeout does not apply to lock upgrades); IMMEDIATE waits its turn instead.
        immediate = conn.get_execution_options().get(WRITE, False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")

    return engine
