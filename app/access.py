"""The outermost ASGI layer: a request id for every request, one access line, its metrics."""

from __future__ import annotations

import logging
import re
import time
import uuid

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app import metrics
from app.logs import request_id

log = logging.getLogger("jobql.access")
HEADER = b"x-request-id"
# A client's id is kept only if it is short and plain: it lands in logs and in a header.
_CLIENT_ID = re.compile(rb"[A-Za-z0-9._:/+=@-]{1,128}")
# Where the GraphQL endpoint leaves the operation's name (request.state, i.e. scope["state"]).
OPERATION_KEY = "graphql_operation"


def route_of(path: str) -> str:
    """A bounded label for a path: paths with ids in them collapse to one name."""
    if path == "/graphql":
        return "graphql"
    if path.startswith("/graphql/assets/"):
        return "assets"
    if path == "/attachments":
        return "upload"
    if path.startswith("/attachments/") and path.endswith("/download"):
        return "download"
    if path in ("/healthz", "/readyz", "/metrics"):
        return path[1:]
    return "other"


class AccessLog:
    """Honours or makes `X-Request-Id`, returns it, and logs one line when the response ends:
    method, path (never the query string: GET queries and signed links live there), GraphQL
    operation name, status and duration."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        rid = _request_id(scope)
        token = request_id.set(rid)
        state = scope.setdefault("state", {})
        started = time.perf_counter()
        status = 500  # unless the app starts a response

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [*message.get("headers", []), (HEADER, rid.encode())]
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            seconds = time.perf_counter() - started
            self._record(scope, state.get(OPERATION_KEY), status, seconds)
            request_id.reset(token)

    @staticmethod
    def _record(scope: Scope, operation: str | None, status: int, seconds: float) -> None:
        path: str = scope["path"]
        metrics.observe_request(route_of(path), operation, status, seconds)
        ms = round(seconds * 1000, 1)
        log.info(
            "%s %s %s %d %.1fms",
            scope["method"],
            path,
            operation or "-",
            status,
            ms,
            extra={
                "method": scope["method"],
                "path": path,
                "operation": operation,
                "status": status,
                "duration_ms": ms,
                "request_id": request_id.get(),
            },
        )


def _request_id(scope: Scope) -> str:
    for name, value in scope["headers"]:
        if name == HEADER and _CLIENT_ID.fullmatch(value):
            return str(value.decode())
    return uuid.uuid4().hex
