"""create_app(settings): the only place that wires the parts together."""

from __future__ import annotations

import asyncio
import contextlib
import gc
from collections.abc import AsyncIterator

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import Request
from starlette.responses import FileResponse, PlainTextResponse, Response
from starlette.routing import Mount, Route, WebSocketRoute

from app import explorer, ops
from app.access import AccessLog
from app.auth import flush_forever
from app.blobs import BlobStore
from app.config import Settings
from app.db.engine import Database
from app.graphql.schema import build_schema
from app.http import GraphQLEndpoint
from app.services.attachments import open_download
from app.services.listener import Listener
from app.services.live import Hub
from app.services.queue import Wakeup
from app.services.sweeper import run_forever
from app.signing import load_signer
from app.uploads import UploadEndpoint


def live_hub(db: Database, settings: Settings) -> Hub:
    """The process's hub, woken by its own commits, and on PostgreSQL by NOTIFY unless off."""
    hub = Hub(db, settings)
    db.on_events.append(hub.committed)
    db.closers.append(hub.close)
    if db.dialect == "postgresql" and settings.live_notify:
        hub.listener = Listener(settings.database_url, hub.wake, settings.live_safety_seconds)
    return hub


def create_app(settings: Settings | None = None) -> Starlette:
    """Builds the app; nothing connects until the first request."""
    settings = settings or Settings()
    db = Database(settings)
    blobs = BlobStore(settings.blob_dir)
    signer = load_signer(settings)
    wakeup = Wakeup()
    hub = live_hub(db, settings)
    endpoint = GraphQLEndpoint(
        build_schema(settings),
        settings=settings,
        db=db,
        blobs=blobs,
        signer=signer,
        explorer=explorer.explorer_page,
        wakeup=wakeup,
        hub=hub,
    )
    db.closers.append(endpoint.connections.close)

    async def download(request: Request) -> Response:
        found = await open_download(
            db,
            blobs,
            signer,
            attachment_id=request.path_params["attachment_id"],
            organization=request.query_params.get("org", ""),
            expires=request.query_params.get("expires", ""),
            signature=request.query_params.get("signature", ""),
        )
        if found is None:
            return PlainTextResponse("Not found or link expired", status_code=404)
        row, path = found
        # Served as an opaque download, never rendered: attachments are often malware.
        return FileResponse(
            path,
            media_type="application/octet-stream",
            filename=row.name,
            headers={"X-Content-Type-Options": "nosniff", "Cache-Control": "private, no-store"},
        )

    async def health(_: Request) -> Response:
        return PlainTextResponse("ok")

    @contextlib.asynccontextmanager
    async def lifespan(_: Starlette) -> AsyncIterator[None]:
        # What start-up made (modules, the schema, table metadata) lives as long as the process:
        # out of the collector's sight, a full collection no longer walks it (shorter p99).
        gc.freeze()
        sweeper = asyncio.create_task(run_forever(db, blobs, settings.sweep_interval_seconds))
        usage = endpoint.principals.usage
        flusher = asyncio.create_task(flush_forever(usage, db, settings.key_usage_flush_seconds))
        try:
            yield
        finally:
            for task in (sweeper, flusher):
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            with contextlib.suppress(Exception):  # a last flush; the database may be gone
                await usage.flush(db)
            await db.dispose()

    app = Starlette(
        routes=[
            # Every method reaches the endpoint, which refuses all but GET and POST in GraphQL's own
            # error format (the router's 405 is plain text and would offer HEAD).
            Route("/graphql", endpoint),
            WebSocketRoute("/graphql", endpoint),  # graphql-transport-ws
            Mount("/graphql/assets", explorer.explorer_assets()),
            Route("/attachments", UploadEndpoint(endpoint, blobs), methods=["POST"]),
            Route("/attachments/{attachment_id}/download", download, methods=["GET"]),
            Route("/healthz", health, methods=["GET"]),
            Route("/readyz", ops.ready_endpoint(db, settings), methods=["GET"]),
            Route("/metrics", ops.metrics_endpoint(db, settings), methods=["GET"]),
        ],
        middleware=_middleware(settings),
        lifespan=lifespan,
    )
    app.state.db = db
    app.state.hub = hub
    app.state.graphql = endpoint
    app.state.key_usage = endpoint.principals.usage
    app.state.settings = settings
    return app


def _middleware(settings: Settings) -> list[Middleware]:
    """The access line outermost, so that it sees every answer, CORS preflights included."""
    layers = [Middleware(AccessLog)]
    if settings.cors_origins:
        layers.append(
            Middleware(
                CORSMiddleware,
                allow_origins=list(settings.cors_origins),
                allow_methods=["GET", "POST"],
                allow_headers=["Authorization", "Content-Type", "Accept", "X-Request-Id"],
                expose_headers=["X-Request-Id", "Retry-After"],
                max_age=600,
            )
        )
    return layers
