"""GraphQL over Server-Sent Events, "distinct connections mode" of the graphql-sse protocol:
POST /graphql with `Accept: text/event-stream` runs one subscription per request; each result
is an `event: next`, the end an `event: complete`. The request's own authentication, rate limit
and body rules apply (app/http.py); closing the connection ends the subscription. The key is
re-checked while the stream stays open (app/ws.py): once it is revoked or expired, or its user
locked, the stream ends with a last `next` carrying an UNAUTHENTICATED error, then `complete`."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

from starlette.requests import Request
from starlette.responses import StreamingResponse
from strawberry.types import ExecutionResult

from app.transport import Params, encode_json
from app.ws import LiveConnections

EVENT_STREAM = "text/event-stream"
REVOKED = {
    "errors": [
        {"message": "The API key is no longer valid", "extensions": {"code": "UNAUTHENTICATED"}}
    ]
}
_END = object()


def wants_event_stream(request: Request) -> bool:
    return request.method == "POST" and EVENT_STREAM in request.headers.get("accept", "")


def _event(kind: str, data: object | None) -> bytes:
    body = b"" if data is None else encode_json(data)
    return b"event: " + kind.encode() + b"\ndata: " + body + b"\n\n"


def _payload(result: ExecutionResult) -> dict[str, object]:
    body: dict[str, object] = {"data": result.data}
    if result.errors:
        body["errors"] = [e.formatted for e in result.errors]
    return body


def sse_response(
    schema: Any, params: Params, context: Any, connections: LiveConnections
) -> StreamingResponse:
    async def results() -> AsyncIterator[ExecutionResult]:
        stream = await schema.stream(
            params.query,
            variable_values=params.variables,
            context_value=context,
            operation_name=params.operation_name,
        )
        async with contextlib.aclosing(stream):
            async for result in stream:
                if isinstance(result, ExecutionResult):
                    yield result

    async def events() -> AsyncIterator[bytes]:
        watched = connections.stream_opened(context.key_id)
        try:
            async for result in _until(results(), watched.revoked):
                yield _event("next", _payload(result))
            if watched.revoked.is_set():
                yield _event("next", REVOKED)
        finally:
            connections.stream_closed(watched)
        yield _event("complete", None)

    headers = {"Cache-Control": "no-store", "X-Accel-Buffering": "no"}
    return StreamingResponse(events(), media_type=EVENT_STREAM, headers=headers)


async def _until(
    results: AsyncIterator[ExecutionResult], revoked: asyncio.Event
) -> AsyncIterator[ExecutionResult]:
    """`results` until `revoked` is set. The subscription runs whole in a task of its own (its
    context variables stay its own) so that it can be stopped while it waits for an event."""
    handed: asyncio.Queue[object] = asyncio.Queue(1)

    async def pump() -> None:
        try:
            async for result in results:
                await handed.put(result)
        except Exception as error:  # raised again in the response's task, as before
            await handed.put(error)
            return
        await handed.put(_END)

    pumping = asyncio.create_task(pump())
    stop = asyncio.create_task(revoked.wait())
    try:
        while True:
            take = asyncio.create_task(handed.get())
            await asyncio.wait({take, stop}, return_when=asyncio.FIRST_COMPLETED)
            if not take.done():
                take.cancel()
                return
            item = take.result()
            if item is _END:
                return
            if isinstance(item, Exception):
                raise item
            assert isinstance(item, ExecutionResult)
            yield item
    finally:
        stop.cancel()
        pumping.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await pumping
