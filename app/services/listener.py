"""A process's LISTEN connection on PostgreSQL: a `jobql_events` notification wakes the hub.

A notification only says "the log grew": the hub reads the log itself, so a notification
lost (or the connection lost) delays delivery until the timer, never loses an event. A
connection that dies (its backend terminated, the server restarted) is noticed through
asyncpg's termination callback or the periodic check, and opened again; every (re)connect
forces a wake, for what was written while nobody listened.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from typing import Any

import asyncpg  # type: ignore[import-untyped]
from sqlalchemy.engine import make_url

CHANNEL = "jobql_events"
RETRY_SECONDS = 0.5
log = logging.getLogger("jobql.live")


def asyncpg_dsn(database_url: str) -> str:
    url = make_url(database_url).set(drivername="postgresql")
    return url.render_as_string(hide_password=False)


class Listener:
    """Keeps one LISTEN connection open while running; `connected` says whether it is."""

    def __init__(self, database_url: str, wake: Callable[[], None], check_seconds: float) -> None:
        self.dsn, self.wake, self.check_seconds = asyncpg_dsn(database_url), wake, check_seconds
        self.connects = 0  # how many times it (re)connected: tests read it
        self._conn: Any = None
        self._lost = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    @property
    def connected(self) -> bool:
        return self._conn is not None and not self._conn.is_closed()

    def start(self) -> None:
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._run(), name="jobql live listener")

    async def _run(self) -> None:
        while True:
            try:
                await self._listen()
            except asyncio.CancelledError:
                raise
            except Exception as e:  # the server is away: try again shortly
                log.warning("LISTEN connection failed: %s", e)
            finally:
                await self._drop()
            await asyncio.sleep(RETRY_SECONDS)

    async def _listen(self) -> None:
        self._lost.clear()
        conn = await asyncpg.connect(
            self.dsn, server_settings={"application_name": "jobql-listener"}
        )
        self._conn = conn
        conn.add_termination_listener(lambda _: self._lost.set())
        await conn.add_listener(CHANNEL, self._notified)
        self.connects += 1
        self.wake()  # whatever was written while nobody listened
        while not self._lost.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._lost.wait(), self.check_seconds)
            if conn.is_closed():
                return
            if not self._lost.is_set():
                # A connection can die without telling (a network drop): ask it something.
                await asyncio.wait_for(conn.fetchval("SELECT 1"), self.check_seconds)

    def _notified(self, *_: Any) -> None:
        self.wake()

    async def _drop(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None and not conn.is_closed():
            try:
                await asyncio.wait_for(conn.close(), 2)
            except Exception:
                conn.terminate()

    async def close(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await self._drop()
