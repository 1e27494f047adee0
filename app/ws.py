"""The process's live connections: WebSockets counted, kept alive, and the keys of every
WebSocket and GraphQL SSE stream re-checked.

One task per process, not one per connection: every `live_auth_recheck_seconds` it asks the
database, in one statement for all connections, which of their keys are still good, closes
with 4403 the WebSockets whose key was revoked or expired or whose user was locked, and ends
the SSE streams of those keys (app/sse.py) — so within 5 s; it also sends a
graphql-transport-ws ping to the WebSockets idle for `live_keepalive_seconds`, so that proxies
keep them open and dead peers are found.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from dataclasses import dataclass, field
from typing import Any

from starlette.websockets import WebSocket, WebSocketState

from app.auth import keys_still_valid
from app.config import Settings
from app.db.engine import Database

log = logging.getLogger("jobql.ws")
REVOKED = 4403


@dataclass(eq=False, slots=True)
class _Live:
    websocket: WebSocket
    key_id: str
    pinged_at: float = field(default_factory=time.monotonic)

    @property
    def open(self) -> bool:
        return (
            self.websocket.client_state is WebSocketState.CONNECTED
            and self.websocket.application_state is WebSocketState.CONNECTED
        )


@dataclass(eq=False, slots=True)
class Stream:
    """A GraphQL SSE stream: `revoked` is set when its key is no longer valid."""

    key_id: str
    revoked: asyncio.Event = field(default_factory=asyncio.Event)


class LiveConnections:
    def __init__(self, db: Database, settings: Settings) -> None:
        self.db, self.settings = db, settings
        self._pending: set[int] = set()  # ids of the scopes admitted, not yet authenticated
        self._live: set[_Live] = set()
        self._streams: set[Stream] = set()
        self._task: asyncio.Task[None] | None = None

    def __len__(self) -> int:
        return len(self._pending) + len(self._live)

    def admit(self, scope: Any) -> bool:
        """Whether one more connection fits under JOBQL_MAX_CONNECTIONS."""
        self._prune()
        if len(self) >= self.settings.max_connections:
            return False
        self._pending.add(id(scope))
        return True

    def authenticated(self, websocket: WebSocket, key_id: str) -> None:
        self._pending.discard(id(websocket.scope))
        self._live.add(_Live(websocket, key_id))
        self._start()

    def stream_opened(self, key_id: str) -> Stream:
        """An SSE stream of `key_id` began; it is not counted against max_connections (its
        request already is, by uvicorn)."""
        stream = Stream(key_id)
        self._streams.add(stream)
        self._start()
        return stream

    def stream_closed(self, stream: Stream) -> None:
        self._streams.discard(stream)

    def _start(self) -> None:
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._watch(), name="jobql live connections")

    def gone(self, scope: Any) -> None:
        """The connection of `scope` ended, authenticated or not."""
        self._pending.discard(id(scope))
        self._live = {c for c in self._live if c.websocket.scope is not scope}

    def _prune(self) -> None:
        self._live = {c for c in self._live if c.open}

    async def _watch(self) -> None:
        while self._live or self._streams:
            await asyncio.sleep(self.settings.live_auth_recheck_seconds)
            self._prune()
            try:
                await self._recheck()
            except Exception:  # the database is away: the connections stay until it answers
                log.warning("re-checking live connections' keys failed", exc_info=True)
            await self._ping()

    async def _recheck(self) -> None:
        connections, streams = list(self._live), list(self._streams)
        keys = {c.key_id for c in connections} | {s.key_id for s in streams}
        valid = await keys_still_valid(self.db, keys)
        for stream in streams:
            if stream.key_id not in valid:
                self._streams.discard(stream)
                stream.revoked.set()
        for connection in connections:
            if connection.key_id not in valid:
                self._live.discard(connection)
                with contextlib.suppress(Exception):
                    await connection.websocket.close(REVOKED, "The API key is no longer valid")

    async def _ping(self) -> None:
        now = time.monotonic()
        for connection in list(self._live):
            if now - connection.pinged_at >= self.settings.live_keepalive_seconds:
                connection.pinged_at = now
                with contextlib.suppress(Exception):
                    await connection.websocket.send_json({"type": "ping"})

    async def close(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
