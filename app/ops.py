"""The operator's endpoints: /readyz (can this process serve?) and /metrics (Prometheus)."""

from __future__ import annotations

import asyncio
import hmac
import ipaddress
import logging
from collections.abc import Awaitable, Callable
from importlib.metadata import version as package_version

from sqlalchemy import func, make_url, select
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response

from app import metrics
from app.config import Settings
from app.db.engine import Database
from app.db.migrate import current_revisions, head_revisions
from app.db.models import job_queue
from app.trusted import read_manifest

Endpoint = Callable[[Request], Awaitable[Response]]
log = logging.getLogger("jobql.ops")
PROMETHEUS_TEXT = "text/plain; version=0.0.4; charset=utf-8"


async def readiness(db: Database, timeout: float) -> str | None:
    """Why this process cannot serve yet (None: it can): the database unreachable, or its
    migrations not at the head this code expects."""
    try:
        async with asyncio.timeout(timeout), db.read() as conn:
            try:
                found = await current_revisions(conn)
            except Exception:
                return "the database has no migrations applied: run `jobql db upgrade`"
    except Exception as error:
        log.warning("readiness: database unreachable: %r", error)
        return "the database is unreachable"
    expected = head_revisions()
    if found != expected:
        have, want = ", ".join(sorted(found)) or "none", ", ".join(sorted(expected))
        return f"the database is at migration {have}, this server expects {want}"
    return None


def ready_endpoint(db: Database, settings: Settings) -> Endpoint:
    async def ready(_: Request) -> Response:
        reason = await readiness(db, settings.pool_timeout_seconds + 1)
        if reason is not None:
            return PlainTextResponse(f"not ready: {reason}\n", status_code=503)
        return PlainTextResponse("ready\n")

    return ready


def metrics_endpoint(db: Database, settings: Settings) -> Endpoint:
    async def scrape(request: Request) -> Response:
        refusal = _refusal(request, settings)
        if refusal is not None:
            return refusal
        await _refresh(db)
        return Response(metrics.exposition(), media_type=PROMETHEUS_TEXT)

    return scrape


def _refusal(request: Request, settings: Settings) -> Response | None:
    """/metrics names every organization's analyzers: it takes the operator's token, or, with
    none set, a client on this host only."""
    token = settings.metrics_token
    if token is not None:
        given = request.headers.get("authorization", "")
        expected = f"Bearer {token.get_secret_value()}"
        if hmac.compare_digest(given.encode(), expected.encode()):
            return None
        return PlainTextResponse(
            "/metrics needs Authorization: Bearer <JOBQL_METRICS_TOKEN>\n",
            status_code=401,
            headers={"WWW-Authenticate": "Bearer"},
        )
    if _is_loopback(request.client.host if request.client else ""):
        return None
    return PlainTextResponse(
        "/metrics answers this host only; set JOBQL_METRICS_TOKEN to scrape it from elsewhere\n",
        status_code=403,
    )


def _is_loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


async def _refresh(db: Database) -> None:
    """The gauges read at scrape time: the pool, then one grouped count of the queue (it
    walks the claim index's leading columns, so it costs what the queue holds, not the jobs)."""
    pool = db.engine.pool
    metrics.POOL_SIZE.set(getattr(pool, "size", lambda: 0)())
    metrics.POOL_IN_USE.set(getattr(pool, "checkedout", lambda: 0)())
    query = (
        select(job_queue.c.analyzer_id, func.count())
        .where(job_queue.c.state == "QUEUED")
        .group_by(job_queue.c.analyzer_id)
    )
    async with db.read() as conn:
        rows = (await conn.execute(query)).all()
    metrics.set_queue_depth({str(analyzer): int(count) for analyzer, count in rows})


async def startup_report(settings: Settings) -> list[str]:
    """What `jobql serve` says as it starts: version, database (password hidden), the
    migration it is at, and the limits in force."""
    db = Database(settings)
    try:
        async with db.read() as conn:
            revision = ", ".join(sorted(await current_revisions(conn))) or "none"
    finally:
        await db.dispose()
    url = make_url(settings.database_url).render_as_string(hide_password=True)
    s = settings
    return [
        f"jobql {package_version('jobql')}",
        f"database {url} at migration {revision}",
        f"limits: depth {s.max_query_depth}, aliases {s.max_aliases}, tokens {s.max_tokens}, "
        f"body {s.max_body_bytes} bytes, page {s.max_page_size}, "
        f"request {s.request_timeout_seconds:g} s, statement {s.statement_timeout_ms} ms, "
        f"pool {s.pool_size} (wait {s.pool_timeout_seconds:g} s), "
        f"connections {s.max_connections}, rate {s.rate_limit_per_second:g}/s "
        f"burst {s.rate_limit_burst} per key",
        f"metrics: {'token' if s.metrics_token else 'this host only'}; "
        f"CORS origins: {', '.join(s.cors_origins) or 'none'}",
        f"links: {s.public_url or 'from each request'}; "
        f"forwarded headers from: {', '.join(s.trusted_proxies) or 'nobody'}",
        f"documents: {_documents(s)}",
    ]


def _documents(settings: Settings) -> str:
    if settings.trusted_documents is None:
        return f"any (automatic persisted queries: {settings.persisted_queries_max} kept)"
    count = len(read_manifest(settings.trusted_documents))
    return f"trusted only, {count} in {settings.trusted_documents}"
