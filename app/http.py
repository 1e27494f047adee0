"""The GraphQL endpoint over HTTP: authentication, rate limit, then the GraphQL-over-HTTP
rules of app/transport.py around one strawberry execution, all within the request's time
budget."""

from __future__ import annotations

import asyncio
import logging
import uuid
from datetime import timedelta
from typing import Any

from graphql import DocumentNode, OperationDefinitionNode, get_operation_ast
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Receive, Scope, Send
from starlette.websockets import WebSocket
from strawberry.asgi import GraphQL
from strawberry.exceptions import ConnectionRejectionError
from strawberry.schema.exceptions import CannotGetOperationTypeError, InvalidOperationTypeError
from strawberry.subscriptions import GRAPHQL_TRANSPORT_WS_PROTOCOL
from strawberry.types import ExecutionResult
from strawberry.types.graphql import OperationType
from strawberry.types.unset import UNSET, UnsetType

from app.access import OPERATION_KEY
from app.auth import Principal, PrincipalCache, authenticate, bearer_token, split_token
from app.blobs import BlobStore
from app.config import Settings
from app.db.deadline import is_pool_timeout
from app.db.engine import Database
from app.errors import Unauthenticated
from app.graphql.compiled import CompiledQueries
from app.graphql.context import Context
from app.graphql.documents import operation_type, parse_document, parse_error
from app.graphql.errors import present
from app.logs import request_id
from app.persisted import PersistedQueries, TrustedDocuments
from app.ratelimit import RateLimiter
from app.services.live import Hub
from app.services.queue import Wakeup
from app.signing import Signer
from app.sse import sse_response, wants_event_stream
from app.transport import (
    GRAPHQL_RESPONSE,
    JSON,
    HttpError,
    Params,
    check_content_length,
    error_response,
    get_params,
    json_response,
    negotiate,
    post_params,
    read_body,
    result_response,
)
from app.trusted import Manifest
from app.ws import LiveConnections

log = logging.getLogger("jobql.http")
NOBODY = Principal(login="", name="", organization="", roles=frozenset())
ALLOWED_METHODS = "GET, POST"
OPERATIONS = {
    "GET": frozenset({OperationType.QUERY}),
    "POST": frozenset({OperationType.QUERY, OperationType.MUTATION}),
}


class GraphQLEndpoint(GraphQL[Context, None]):
    """Serves /graphql over HTTP itself; strawberry's view stays for WebSocket transports."""

    def __init__(
        self,
        schema: Any,
        *,
        settings: Settings,
        db: Database,
        blobs: BlobStore,
        signer: Signer,
        explorer: Any,
        wakeup: Wakeup | None = None,
        hub: Hub | None = None,
    ) -> None:
        super().__init__(
            schema,
            graphql_ide=None,
            allow_queries_via_get=True,
            subscription_protocols=(GRAPHQL_TRANSPORT_WS_PROTOCOL,),
            connection_init_wait_timeout=timedelta(seconds=settings.live_init_timeout_seconds),
            max_subscriptions_per_connection=settings.live_max_subscriptions_per_connection,
        )
        self.settings, self.db, self.blobs, self.signer = settings, db, blobs, signer
        self.wakeup = wakeup or Wakeup()
        self.hub = hub or Hub(db, settings)
        self.connections = LiveConnections(db, settings)
        self.explorer = explorer
        self.limiter = RateLimiter(settings.rate_limit_per_second, settings.rate_limit_burst)
        self.persisted = PersistedQueries(settings.persisted_queries_max)
        manifest = settings.trusted_documents
        self.trusted = TrustedDocuments(Manifest.load(manifest)) if manifest else None
        self.refused = RateLimiter(settings.refused_rate_per_second, settings.refused_rate_burst)
        self.principals = PrincipalCache(settings.auth_cache_seconds)
        self.compiled = CompiledQueries(schema, settings, db) if settings.compiled_queries else None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "websocket":
            return await self._websocket(scope, receive, send)
        if scope["type"] != "http":
            return await super().__call__(scope, receive, send)
        request = Request(scope, receive)
        response = await self._respond(request)
        await response(scope, receive, send)

    async def _websocket(self, scope: Scope, receive: Receive, send: Send) -> None:
        """graphql-transport-ws, run by strawberry; connections past the limit are refused
        before the handshake completes (HTTP 403 to the client)."""
        if not self.connections.admit(scope):
            await send({"type": "websocket.close", "code": 1013})
            return
        try:
            await super().__call__(scope, receive, send)
        finally:
            self.connections.gone(scope)

    async def get_context(self, request: Any, response: Any = None) -> Context:
        """A live connection's context: nobody until its connection_init names a key."""
        return self._context(request, NOBODY, "")

    async def on_ws_connect(self, context: Context) -> UnsetType | dict[str, object] | None:
        """Authenticates a live connection from its connection_init payload (browsers cannot
        set headers on a WebSocket) or its Authorization header; a bad key closes it 4403."""
        authorization = _authorization(context.connection_params) or context.request.headers.get(
            "authorization"
        )
        try:
            principal = await authenticate(self.db, authorization, self.principals)
        except Unauthenticated:
            raise ConnectionRejectionError() from None
        parts = split_token(bearer_token(authorization) or "")
        assert parts is not None  # authenticate() accepted it
        context.principal, context.key_id = principal, parts.key_id
        context.renew_loaders()
        assert isinstance(context.request, WebSocket)
        self.connections.authenticated(context.request, parts.key_id)
        result: UnsetType = UNSET
        return result

    async def _respond(self, request: Request) -> Response:
        if request.method == "GET" and _wants_page(request):
            return self.explorer(self.settings, request)  # type: ignore[no-any-return]
        media_type = negotiate(request.headers.get("accept")) or JSON
        try:
            return await self._within_budget(request, media_type)
        except HttpError as e:
            return e.response(media_type)
        except Exception:
            # A bug, not the client's doing: logged in full, masked for the client.
            correlation_id = request_id.get()
            if correlation_id == "-":  # served without app/access.py around it
                correlation_id = uuid.uuid4().hex
            log.exception("unexpected error %s on %s", correlation_id, request.url.path)
            message = f"Internal server error (correlation id {correlation_id})"
            return error_response(500, message, "INTERNAL_SERVER_ERROR", media_type)

    async def _within_budget(self, request: Request, media_type: str) -> Response:
        budget = self.settings.request_timeout_seconds
        progress = {"stage": "head"}
        try:
            async with asyncio.timeout(budget) as timer:
                return await self._handle(request, media_type, progress)
        except TimeoutError:
            if not timer.expired():
                raise
        if progress["stage"] == "body":
            # Still receiving the body: a slow or stalled client.
            raise HttpError(408, "The request body did not arrive in time", "REQUEST_TIMEOUT")
        raise HttpError(
            503,
            f"The request did not complete within its {budget:g} s budget",
            "TIMEOUT",
            **{"Retry-After": "1"},
        )

    async def _handle(
        self, request: Request, media_type: str, progress: dict[str, str]
    ) -> Response:
        if request.method not in OPERATIONS:
            raise HttpError(405, "Use GET or POST", "METHOD_NOT_ALLOWED", Allow=ALLOWED_METHODS)
        check_content_length(request, self.settings.max_body_bytes)
        key_id = await self._authenticate(request)
        wait = self.limiter.take(key_id)
        if wait:
            raise HttpError(
                429,
                "Too many requests for this API key",
                "RATE_LIMITED",
                **{"Retry-After": str(wait)},
            )
        if wants_event_stream(request):
            progress["stage"] = "body"
            params = await self._params(request)
            if self.trusted is not None:
                params = self.trusted.resolve(params, media_type)
            context = self._request_context(request)
            return sse_response(self.schema, params, context, self.connections)
        if negotiate(request.headers.get("accept")) is None:
            raise HttpError(
                406, f"This endpoint answers {GRAPHQL_RESPONSE} or {JSON}", "NOT_ACCEPTABLE"
            )
        progress["stage"] = "body"
        params = (self.trusted or self.persisted).resolve(await self._params(request), media_type)
        progress["stage"] = "execution"
        return await self._execute(request, params, media_type)

    async def _authenticate(self, request: Request) -> str:
        """The id of the request's API key, once the key is known good."""
        if len(request.headers.getlist("authorization")) > 1:
            # Which one would count depends on the proxy in between: refuse rather than guess.
            raise HttpError(400, "Send one Authorization header, not several", "BAD_REQUEST")
        authorization = request.headers.get("authorization")
        try:
            principal = await authenticate(self.db, authorization, self.principals)
        except Unauthenticated as e:
            # Refusals cost a lookup each: an address that keeps sending bad keys is slowed.
            wait = self.refused.take(request.client.host if request.client else "")
            if wait:
                message = "Too many requests without a valid API key from this address"
                raise HttpError(
                    429, message, "RATE_LIMITED", **{"Retry-After": str(wait)}
                ) from None
            raise HttpError(401, e.message, e.code, **{"WWW-Authenticate": "Bearer"}) from None
        except Exception as e:
            if is_pool_timeout(e):
                raise _busy() from None
            raise
        request.state.principal = principal
        parts = split_token(bearer_token(authorization) or "")
        assert parts is not None  # authenticate() accepted it
        request.state.key_id = parts.key_id
        return parts.key_id

    async def _params(self, request: Request) -> Params:
        depth = self.settings.max_json_depth
        if request.method == "GET":
            return get_params(request.query_params, depth)
        body = await read_body(request, self.settings.max_body_bytes)
        return post_params(request.headers.get("content-type"), body, depth)

    def _context(self, request: Request | WebSocket, principal: Principal, key_id: str) -> Context:
        return Context(
            request=request,
            settings=self.settings,
            db=self.db,
            blobs=self.blobs,
            signer=self.signer,
            principal=principal,
            wakeup=self.wakeup,
            hub=self.hub,
            key_id=key_id,
        )

    def _request_context(self, request: Request) -> Context:
        """A request's context: the principal its key was checked as."""
        return self._context(request, request.state.principal, request.state.key_id)

    async def _execute(self, request: Request, params: Params, media_type: str) -> Response:
        allowed = OPERATIONS[request.method]
        max_tokens = self.settings.max_tokens
        error = parse_error(params.query, max_tokens)
        if error is not None:  # answered here: strawberry would parse it a second time
            return result_response(ExecutionResult(data=None, errors=[present(error)]), media_type)
        document = parse_document(params.query, max_tokens)
        operation = _operation(document, params.operation_name, media_type)
        if operation is not None:  # for the access line and the metrics (app/access.py)
            name = operation.name.value if operation.name else None
            setattr(request.state, OPERATION_KEY, name)
        kind = operation_type(document, params.operation_name)
        if kind is not None and kind not in allowed:
            if kind is OperationType.MUTATION:
                raise HttpError(405, "Mutations need POST", "METHOD_NOT_ALLOWED", Allow="POST")
            raise HttpError(400, f"{kind.value} operations are not served over HTTP", "BAD_REQUEST")
        if kind is OperationType.QUERY and self.compiled is not None:
            try:
                body = await self.compiled.answer(
                    params.query, params.operation_name, params.variables, request.state.principal
                )
            except Exception as e:
                if is_pool_timeout(e):
                    raise _busy() from None
                raise
            if body is not None:
                return json_response(body, 200, media_type)
        context = self._request_context(request)
        try:
            result = await self.schema.execute(
                params.query,
                variable_values=params.variables,
                context_value=context,
                operation_name=params.operation_name,
                allowed_operation_types=allowed,
                operation_extensions=params.extensions,
            )
        except (CannotGetOperationTypeError, InvalidOperationTypeError) as e:
            status = 400 if media_type == GRAPHQL_RESPONSE else 200
            message = "The document has no single operation to run: name one in operationName"
            raise HttpError(status, message, "GRAPHQL_VALIDATION_FAILED") from e
        return result_response(result, media_type)


def _operation(
    document: DocumentNode, operation_name: str | None, media_type: str
) -> OperationDefinitionNode | None:
    """The operation the request runs, or a request error saying why none can be chosen (a
    document of fragments only is left to validation, which names that)."""
    operations = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
    chosen = get_operation_ast(document, operation_name)
    if chosen is not None or not operations:
        return chosen
    names = ", ".join(op.name.value if op.name else "(anonymous)" for op in operations)
    if operation_name is None:
        message = f"The document has several operations ({names}): name one in operationName"
    else:
        message = f"Unknown operation named {operation_name!r}: the document has {names}"
    status = 400 if media_type == GRAPHQL_RESPONSE else 200
    raise HttpError(status, message, "BAD_REQUEST")


def _authorization(params: dict[str, Any] | None) -> str | None:
    """The key in a connection_init payload: {"Authorization": "Bearer …"} as clients send
    it, under "headers" as GraphiQL's connectionParams may, or the bare key."""
    if not isinstance(params, dict):
        return None
    headers = params.get("headers")
    for source in (params, headers if isinstance(headers, dict) else {}):
        for name in ("Authorization", "authorization"):
            value = source.get(name)
            if isinstance(value, str) and value.strip():
                value = value.strip()
                return value if " " in value else f"Bearer {value}"
    return None


def _busy() -> HttpError:
    message = "The server is busy: no database connection was free in time"
    return HttpError(503, message, "SERVICE_UNAVAILABLE", **{"Retry-After": "1"})


def _wants_page(request: Request) -> bool:
    """A browser asking for the explorer, not a GET query (which has `query`)."""
    return "query" not in request.query_params and "text/html" in request.headers.get("accept", "")
