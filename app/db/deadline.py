"""Database time budgets: SQLite statements interrupted at the statement timeout (PostgreSQL
does it itself with `statement_timeout`), and the exceptions that say a budget ran out."""

from __future__ import annotations

import sqlite3
import time
from typing import Any

from sqlalchemy import event
from sqlalchemy.exc import DBAPIError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.util import await_

KEY = "jobql_deadline"
# SQLite calls the handler every this many virtual-machine instructions: often enough to stop
# within about a millisecond, rarely enough to cost nothing measurable.
INSTRUCTIONS = 1000
QUERY_CANCELED = "57014"  # PostgreSQL's SQLSTATE for statement_timeout (and cancel requests)
DEADLOCK_DETECTED = "40P01"


class _Deadline:
    """When the running statement of one connection must stop; None between statements."""

    __slots__ = ("at",)

    def __init__(self) -> None:
        self.at: float | None = None

    def expired(self) -> int:
        # Called on aiosqlite's thread; a non-zero answer makes SQLite stop with "interrupted".
        at = self.at
        return 1 if at is not None and time.monotonic() > at else 0


def interrupt_sqlite_statements(engine: AsyncEngine, timeout_ms: int) -> None:
    """Stop any SQLite statement that runs longer than `timeout_ms`."""
    seconds = timeout_ms / 1000

    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_conn: Any, record: Any) -> None:
        deadline = record.info[KEY] = _Deadline()
        await_(dbapi_conn.driver_connection.set_progress_handler(deadline.expired, INSTRUCTIONS))

    @event.listens_for(engine.sync_engine, "before_cursor_execute")
    def _start(conn: Any, *_: Any) -> None:
        _deadline(conn).at = time.monotonic() + seconds

    @event.listens_for(engine.sync_engine, "after_cursor_execute")
    def _stop(conn: Any, *_: Any) -> None:
        _deadline(conn).at = None

    @event.listens_for(engine.sync_engine, "handle_error")
    def _failed(context: Any) -> None:
        if context.connection is not None:
            _deadline(context.connection).at = None


def _deadline(conn: Any) -> _Deadline:
    deadline: _Deadline = conn.connection.info.setdefault(KEY, _Deadline())
    return deadline


def is_pool_timeout(error: BaseException | None) -> bool:
    """No connection was free within `pool_timeout_seconds`."""
    return isinstance(error, PoolTimeoutError)


def is_statement_timeout(error: BaseException | None) -> bool:
    """A statement ran past `statement_timeout_ms` and the database stopped it."""
    # Through SQLAlchemy the driver's error is wrapped; compiled reads get asyncpg's own.
    wrapped = isinstance(error, DBAPIError)
    original = error.orig if isinstance(error, DBAPIError) else error
    if wrapped or isinstance(original, sqlite3.OperationalError):
        if str(original) == "interrupted":  # SQLite, stopped by interrupt_sqlite_statements
            return True
    return getattr(original, "sqlstate", None) == QUERY_CANCELED


def is_deadlock(error: BaseException | None) -> bool:
    """PostgreSQL chose this transaction as a deadlock's victim and rolled it back."""
    original = error.orig if isinstance(error, DBAPIError) else error
    return getattr(original, "sqlstate", None) == DEADLOCK_DETECTED
