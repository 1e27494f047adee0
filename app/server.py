"""How `jobql serve` runs uvicorn: its limits set explicitly, and a request head bounded in
size and time, which uvicorn's httptools protocol does not do by itself (it buffered a 10 MB
header line, and waits forever for a head sent one byte at a time)."""

from __future__ import annotations

import asyncio
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from app.config import Settings
from app.logs import logging_config

TOO_LARGE = (
    b"HTTP/1.1 431 Request Header Fields Too Large\r\n"
    b"content-type: text/plain; charset=utf-8\r\nconnection: close\r\ncontent-length: 32\r\n\r\n"
    b"Request header fields too large\n"
)
TOO_SLOW = (
    b"HTTP/1.1 408 Request Timeout\r\n"
    b"content-type: text/plain; charset=utf-8\r\nconnection: close\r\ncontent-length: 34\r\n\r\n"
    b"The request head took too long.\r\n"
)


class HeadTooLarge(Exception):
    pass


class BoundedHttpToolsProtocol(HttpToolsProtocol):
    """httptools, refusing a request head larger than `max_header_bytes` (431) or slower
    than `header_timeout_seconds` (408). Limits come from the environment, as in each worker
    uvicorn builds its protocol from the class alone."""

    settings: Settings | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        limits = self._limits()
        self._max_head, self._head_timeout = limits.max_header_bytes, limits.header_timeout_seconds
        self._head_size = self._parsed_size = 0
        self._in_head, self._too_large = True, False
        self._head_timer: asyncio.TimerHandle | None = self.loop.call_later(
            self._head_timeout, self._refuse, TOO_SLOW
        )

    def data_received(self, data: bytes) -> None:
        if self._in_head:
            self._head_size += len(data)
        super().data_received(data)
        # A head still incomplete after this read is all head: refused past the limit, even
        # before httptools has seen the end of a single enormous line.
        if self._in_head and self._head_size > self._max_head:
            self._refuse(TOO_LARGE)

    def on_url(self, url: bytes) -> None:
        self._count(len(url))
        super().on_url(url)

    def on_header(self, name: bytes, value: bytes) -> None:
        # A head that arrives in one read is measured here, as httptools parses it.
        self._count(len(name) + len(value) + 4)
        super().on_header(name, value)

    def _count(self, size: int) -> None:
        self._parsed_size += size
        if self._parsed_size > self._max_head:
            self._too_large = True
            raise HeadTooLarge  # httptools stops; uvicorn answers through send_400_response

    def send_400_response(self, msg: str) -> None:
        if self._too_large:
            self._refuse(TOO_LARGE)
        else:
            super().send_400_response(msg)

    def on_message_begin(self) -> None:
        super().on_message_begin()
        if not self._in_head:  # the next request on a kept-alive connection
            self._in_head, self._head_size, self._parsed_size = True, 0, 0
            self._start_timer()

    def on_headers_complete(self) -> None:
        self._in_head = False
        self._cancel_timer()
        super().on_headers_complete()

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel_timer()
        super().connection_lost(exc)

    def _start_timer(self) -> None:
        self._cancel_timer()
        self._head_timer = self.loop.call_later(self._head_timeout, self._refuse, TOO_SLOW)

    def _cancel_timer(self) -> None:
        timer, self._head_timer = getattr(self, "_head_timer", None), None
        if timer is not None:
            timer.cancel()

    def _refuse(self, response: bytes) -> None:
        self._cancel_timer()
        if not self.transport.is_closing():
            self.transport.write(response)
            self.transport.close()

    def _limits(self) -> Settings:
        if type(self).settings is None:
            type(self).settings = Settings()
        settings = type(self).settings
        assert settings is not None
        return settings


def uvicorn_options(settings: Settings, *, in_process: bool = False) -> dict[str, Any]:
    """uvicorn's settings for jobql, the same for `jobql serve` and the tests' servers.

    `jobql serve` hands uvicorn the protocol class itself, which reads the limits from the
    environment in every worker; an in-process server gets a subclass bound to `settings`.
    """
    protocol: type[BoundedHttpToolsProtocol] = BoundedHttpToolsProtocol
    logs = None if in_process else logging_config(settings.log_format, settings.log_level)
    if in_process:
        protocol = type("BoundProtocol", (BoundedHttpToolsProtocol,), {"settings": settings})
    return {
        "http": protocol,
        "ws": "websockets-sansio",  # graphql-transport-ws (live updates)
        "server_header": False,  # no version banner
        # X-Forwarded-For/-Proto believed from JOBQL_TRUSTED_PROXIES only (FORWARDED_ALLOW_IPS,
        # uvicorn's own variable, is not read: one name for one setting).
        "proxy_headers": bool(settings.trusted_proxies),
        "forwarded_allow_ips": ",".join(settings.trusted_proxies),
        "access_log": False,  # app/access.py writes the access lines
        # Applied by uvicorn in every worker process; a test's in-process server keeps pytest's.
        "log_config": logs,
        "limit_concurrency": settings.max_connections,
        "timeout_keep_alive": 5,
        "timeout_graceful_shutdown": settings.shutdown_grace_seconds,
    }
