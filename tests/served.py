"""A real uvicorn, in this process, on a free port, serving a test's app with jobql's options."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

import uvicorn
from starlette.applications import Starlette

from app.config import Settings
from app.main import create_app
from app.server import uvicorn_options
from tests.live_server import free_port
from tests.support import KEYS, Env


@contextlib.asynccontextmanager
async def serve(env: Env, **overrides: Any) -> AsyncIterator[str]:
    """The base URL of `env`'s app (or of a twin app with settings `overrides`) on uvicorn."""
    if not overrides:
        async with serve_app(env.app, env.settings) as url:
            yield url
        return
    async with twin(env, **overrides) as (url, _):
        yield url


@contextlib.asynccontextmanager
async def twin(env: Env, **overrides: Any) -> AsyncIterator[tuple[str, Starlette]]:
    """A second app over `env`'s database with settings `overrides`, served: (URL, app)."""
    settings = env.settings.model_copy(update=overrides)
    Settings.model_validate(settings.model_dump())  # the overrides must make valid settings
    app = create_app(settings)
    try:
        async with serve_app(app, settings) as url:
            yield url, app
    finally:
        await app.state.db.dispose()


@contextlib.asynccontextmanager
async def serve_app(app: Starlette, settings: Settings) -> AsyncIterator[str]:
    port = free_port()
    config = uvicorn.Config(
        app,
        host="127.0.0.1",
        port=port,
        lifespan="off",
        log_level="warning",
        **uvicorn_options(settings, in_process=True),
    )
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    try:
        while not server.started:
            if task.done():
                task.result()
            await asyncio.sleep(0.02)
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await task


def bearer(key: str = "demo.read") -> dict[str, str]:
    return {"Authorization": f"Bearer {KEYS.get(key, key)}"}


async def raw_request(url: str, data: bytes, read_timeout: float = 10) -> bytes:
    """Sends bytes as they are (no client to tidy them up) and reads the answer's start."""
    host, port = url.removeprefix("http://").split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    try:
        writer.write(data)
        with contextlib.suppress(ConnectionError):  # the server may answer and close first
            await writer.drain()
        return await asyncio.wait_for(reader.read(4096), read_timeout)
    finally:
        writer.close()
