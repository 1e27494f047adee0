"""Reads for compiled queries: statements built and compiled by SQLAlchemy, rows without it.

SQLAlchemy's Core costs about 0.3 ms per statement on top of the driver (a cache key, a result
object, a row per fetched row, an AsyncConnection and a greenlet hop), which is most of what a
small request spends. On PostgreSQL `Rows` keeps what matters of it, the statement cache keyed
by SQLAlchemy's own cache key and its parameter processing (`DefaultExecutionContext.
_init_compiled`, followed step by step), and sends the SQL through asyncpg itself on a connection
of the same pool. Values come back as asyncpg decodes them with the codecs SQLAlchemy's dialect
installs: the same Python values (`tests/test_compiled.py` compares whole responses).

SQLite keeps SQLAlchemy's execution: its driver runs on a thread, and type processing (text
dates) is SQLAlchemy's. Either way a `Rows` holds one connection and reads one statement at a
time, and rows index by position.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any, Protocol

from sqlalchemy import Executable
from sqlalchemy.util import LRUCache
from sqlalchemy.util.concurrency import greenlet_spawn

if TYPE_CHECKING:
    from app.db.engine import Database

CACHE_SIZE = 500
Observer = Callable[[str, Sequence[Any]], None]  # (SQL, positional parameters)
Values = Mapping[str, Any] | None  # for the statement's named bind parameters


class Fetch(Protocol):
    """Runs one read statement on the connection held; its rows index by position."""

    def __call__(
        self, statement: Executable, values: Values = None
    ) -> Awaitable[Sequence[Any]]: ...


class RawReader:
    """The fast read path of one Database: PostgreSQL over asyncpg, SQLite over SQLAlchemy."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self.dialect = db.engine.dialect
        self.compiled: LRUCache[Any, Any] = LRUCache(CACHE_SIZE)
        # See each statement sent (tests count them; bench/explain.py explains them).
        self.observers: list[Observer] = []

    @asynccontextmanager
    async def connection(self) -> AsyncIterator[Fetch]:
        """One connection for the block's statements; each is its own snapshot on PostgreSQL
        (autocommit, as `Database.read`), the block one snapshot on SQLite."""
        if self.db.dialect != "postgresql":
            async with self.db.read() as conn:

                async def sqlalchemy_rows(statement: Executable, values: Values = None) -> Any:
                    return (await conn.execute(statement, values)).all()

                yield sqlalchemy_rows
            return
        pooled = await self.db.engine.raw_connection()
        try:
            driver: Any = pooled.driver_connection

            async def asyncpg_rows(statement: Executable, values: Values = None) -> Any:
                sql, parameters = self._bind(statement, values)
                for observe in self.observers:
                    observe(sql, parameters)
                return await driver.fetch(sql, *parameters)

            yield asyncpg_rows
        finally:
            # No transaction was begun on it (autocommit reads): the check-in resets nothing.
            await greenlet_spawn(pooled.close)

    def _bind(self, statement: Executable, given: Values = None) -> tuple[str, list[Any]]:
        """The SQL text and positional parameters SQLAlchemy would send to asyncpg."""
        compiled: Any
        compiled, extracted, collected, _ = statement._compile_w_cache(
            dialect=self.dialect, compiled_cache=self.compiled, column_keys=[]
        )
        values = compiled.construct_params(
            given, extracted_parameters=extracted, escape_names=False, _collected_params=collected
        )
        processors = compiled._bind_processors
        sql, order = compiled.string, compiled.positiontup
        if compiled.literal_execute_params or compiled.post_compile_params:
            expanded = compiled._process_parameters_for_postcompile(values)
            sql, order = expanded.statement, expanded.positiontup
            processors = {**processors, **expanded.processors}
        return sql, [
            processors[key](values[key]) if key in processors else values[key] for key in order
        ]
