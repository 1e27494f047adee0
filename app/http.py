"""The GraphQL endpoint over HTTP: authentication first, then strawberry's view."""

from __future__ import annotations

from typing import Any

import orjson
from cross_web import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.types import Receive, Scope, Send
from strawberry.asgi import GraphQL

from app.auth import authenticate
from app.blobs import BlobStore
from app.config import Settings
from app.db.engine import Database
from app.errors import Unauthenticated
from app.graphql.context import Context
from app.signing import Signer


def graphql_error_response(status: int, message: str, code: str, **headers: str) -> Response:
    body = {"errors": [{"message": message, "extensions": {"code": code}}]}
    return JSONResponse(body, status_code=status, headers=headers)


class GraphQLEndpoint(GraphQL[Context, None]):
    """Authenticates every GraphQL request before strawberry sees it."""

    def __init__(
        self,
        schema: Any,
        *,
        settings: Settings,
        db: Database,
        blobs: BlobStore,
        signer: Signer,
        explorer: Any,
    ) -> None:
        super().__init__(schema, graphql_ide=None, allow_queries_via_get=True)
        self.settings, self.db, self.blobs, self.signer = settings, db, blobs, signer
        self.explorer = explorer

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return await super().__call__(scope, receive, send)
        request = Request(scope, receive)
        response = await self._respond(request)
        await response(scope, receive, send)

    async def _respond(self, request: Request) -> Response:
        if request.method == "GET" and "text/html" in request.headers.get("accept", ""):
            return self.explorer(self.settings)  # type: ignore[no-any-return]
        try:
            principal = await authenticate(self.db, request.headers.get("authorization"))
        except Unauthenticated as e:
            return graphql_error_response(401, e.message, e.code, **{"WWW-Authenticate": "Bearer"})
        context = Context(
            request=request,
            settings=self.settings,
            db=self.db,
            blobs=self.blobs,
            signer=self.signer,
            principal=principal,
        )
        try:
            return await self.run(request, context=context)
        except HTTPException as e:
            return PlainTextResponse(e.reason, status_code=e.status_code)

    def encode_json(self, data: object) -> bytes:
        return orjson.dumps(data)
