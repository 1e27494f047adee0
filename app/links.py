"""Where the links this server hands out start (downloadUrl, the explorer's endpoint)."""

from __future__ import annotations

from starlette.requests import HTTPConnection

from app.config import Settings


def public_base(connection: HTTPConnection, settings: Settings) -> str:
    """`JOBQL_PUBLIC_URL` when set; else this request's own scheme, host and root path.

    The scheme follows X-Forwarded-Proto only when uvicorn believes the peer (a proxy listed in
    `JOBQL_TRUSTED_PROXIES`); the host is the request's Host header, which a proxy may pass on
    as the client sent it: set `JOBQL_PUBLIC_URL` behind one, so no link depends on it.
    """
    if settings.public_url is not None:
        return settings.public_url
    return str(connection.base_url).rstrip("/")
