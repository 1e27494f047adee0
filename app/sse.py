"""GraphQL over Server-Sent Events, "distinct connections mode" of the graphql-sse protocol:
POST /graphql with `Accept: text/event-stream` runs one subscription per request; each result
is an `event: next`, the end an `event: complete`. The request's own authentication, rate limit
and body rules apply (app/http.py); closing the connection ends the subscription."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Any

from starlette.requests import Request
from starlette.responses import StreamingResponse
from strawberry.types import ExecutionResult

from app.transport import Params, encode_json

EVENT_STREAM = "text/event-stream"


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


def sse_response(schema: Any, params: Params, context: Any) -> StreamingResponse:
    async def events() -> AsyncIterator[bytes]:
        stream = await schema.stream(
            params.query,
            variable_values=params.variables,
            context_value=context,
            operation_name=params.operation_name,
        )
        async with contextlib.aclosing(stream):
            async for result in stream:
                if isinstance(result, ExecutionResult):
                    yield _event("next", _payload(result))
        yield _event("complete", None)

    headers = {"Cache-Control": "no-store", "X-Accel-Buffering": "no"}
    return StreamingResponse(events(), media_type=EVENT_STREAM, headers=headers)
