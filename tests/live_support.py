"""A graphql-transport-ws client for the live-update tests, over a real WebSocket."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from typing import Any

from websockets.asyncio.client import ClientConnection, connect

from tests.support import KEYS

UPDATES = """
subscription Updates($after: String, $ids: [ID!], $statuses: [JobStatus!]) {
  jobUpdates(after: $after, ids: $ids, statuses: $statuses) {
    cursor
    event { id cursor jobId status previousStatus actor message attempt }
    job { id status organization }
  }
}
"""
POLL = """
query Poll($after: String!, $first: Int, $ids: [ID!]) {
  jobUpdates(after: $after, first: $first, ids: $ids) {
    edges { cursor node { event { jobId status } job { id } } }
    pageInfo { hasNextPage endCursor }
  }
}
"""
CANCEL = 'mutation($id: ID!) { cancelJob(id: $id, reason: "live") { id status } }'


class Live:
    """One connection: operations by id, their messages kept per id."""

    def __init__(self, ws: ClientConnection) -> None:
        self.ws = ws
        self.messages: dict[str, asyncio.Queue[dict[str, Any]]] = {}
        self.closed: asyncio.Future[tuple[int | None, str]] = asyncio.Future()
        self._reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        try:
            async for raw in self.ws:
                message = json.loads(raw)
                if message["type"] == "ping":
                    await self.ws.send(json.dumps({"type": "pong"}))
                    continue
                if "id" in message:
                    self.queue(message["id"]).put_nowait(message)
        except Exception:
            pass
        if not self.closed.done():
            self.closed.set_result((self.ws.close_code, self.ws.close_reason or ""))

    def queue(self, op: str) -> asyncio.Queue[dict[str, Any]]:
        return self.messages.setdefault(op, asyncio.Queue())

    async def subscribe(self, op: str, query: str, variables: dict[str, Any] | None = None) -> None:
        payload = {"query": query, "variables": variables or {}}
        await self.ws.send(json.dumps({"id": op, "type": "subscribe", "payload": payload}))

    async def next(self, op: str, timeout: float = 30) -> dict[str, Any]:
        """The next message of `op` (its `next` payload, or the error/complete message)."""
        message = await asyncio.wait_for(self.queue(op).get(), timeout)
        return message

    async def data(self, op: str, timeout: float = 30) -> dict[str, Any]:
        message = await self.next(op, timeout)
        assert message["type"] == "next", message
        assert "errors" not in message["payload"], message
        data: dict[str, Any] = message["payload"]["data"]
        return data

    async def nothing(self, op: str, seconds: float) -> None:
        """Asserts that `op` receives nothing for `seconds`."""
        with contextlib.suppress(TimeoutError):
            message = await asyncio.wait_for(self.queue(op).get(), seconds)
            raise AssertionError(f"expected nothing, got {message}")


def ws_url(url: str) -> str:
    return url.replace("http://", "ws://") + "/graphql"


@contextlib.asynccontextmanager
async def live(url: str, key: str = "demo.read", *, header: bool = False) -> AsyncIterator[Live]:
    """An acknowledged connection; the key in connection_init, or in the header."""
    token = f"Bearer {KEYS.get(key, key)}"
    headers = {"Authorization": token} if header else None
    async with connect(
        ws_url(url),
        subprotocols=["graphql-transport-ws"],
        additional_headers=headers,  # type: ignore[list-item]
    ) as ws:
        init: dict[str, Any] = {"type": "connection_init"}
        if not header:
            init["payload"] = {"Authorization": token}
        await ws.send(json.dumps(init))
        ack = json.loads(await asyncio.wait_for(ws.recv(), 10))
        assert ack["type"] == "connection_ack", ack
        client = Live(ws)
        try:
            yield client
        finally:
            client._reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await client._reader
