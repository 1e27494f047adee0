"""POST /attachments: the raw bytes of a file, streamed into the attachments service.

Everything that can refuse the request without its body does so before reading a byte of
it: the key (401), its rate (429), its role (403), a declared size over the limit (413), the
file name and media type (400, or 415 for a form). Such a refusal closes the connection, since
the unread body would otherwise be taken for the next request.
"""

from __future__ import annotations

import asyncio
import logging
import re
import uuid
from collections.abc import AsyncIterator
from typing import Any

from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from app import disposition
from app.auth import Principal, authenticate, bearer_token, split_token
from app.blobs import BlobStore
from app.db.deadline import is_pool_timeout
from app.errors import BadUserInput, DomainError, Forbidden, PayloadTooLarge, Unauthenticated
from app.http import GraphQLEndpoint
from app.services.attachments import require_uploader, store_upload
from app.transport import JSON, json_response

log = logging.getLogger("jobql.uploads")
DEFAULT_CONTENT_TYPE = "application/octet-stream"
_MEDIA_TYPE = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+/[!#$%&'*+.^_`|~0-9A-Za-z-]+(\s*;.*)?")
MAX_CONTENT_TYPE_LENGTH = 255
# Bodies that wrap a file rather than being it: stored, they would be a form, not the file.
# (x-www-form-urlencoded is also what `curl --data-binary` sends when told no type.)
FORMS = frozenset({"multipart/form-data", "application/x-www-form-urlencoded"})
STATUS = {Unauthenticated: 401, Forbidden: 403, PayloadTooLarge: 413, BadUserInput: 400}


class UploadError(Exception):
    """A refusal: its status, the error as the API words it, and extra headers."""

    def __init__(self, status: int, message: str, code: str, **extra: Any) -> None:
        super().__init__(message)
        self.status, self.message, self.code = status, message, code
        self.headers: dict[str, str] = extra.pop("headers", {})
        self.extensions = extra


def _bad(message: str, argument: str) -> UploadError:
    return UploadError(400, message, BadUserInput.code, argument=argument)


class UploadEndpoint:
    """The ASGI endpoint, beside the GraphQL one: it shares that endpoint's settings, database,
    rate limiter and principal cache, so a key has one budget and one cached identity."""

    def __init__(self, graphql: GraphQLEndpoint, blobs: BlobStore) -> None:
        self.settings, self.db, self.blobs = graphql.settings, graphql.db, blobs
        self.limiter, self.principals = graphql.limiter, graphql.principals

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        request = Request(scope, receive)
        read = {"whole body": False}
        try:
            row = await self._upload(request, read)
            response = json_response(public(row), 201, JSON)
        except UploadError as e:
            response = _error_response(e, close=not read["whole body"])
        await response(scope, receive, send)

    async def _upload(self, request: Request, read: dict[str, bool]) -> dict[str, Any]:
        try:
            principal = await self._principal(request)
            require_uploader(principal)
            self._check_length(request)
            name = _filename(request.headers.get("content-disposition"))
            content_type = _content_type(request.headers.get("content-type"))
            return await store_upload(
                self.db,
                self.blobs,
                principal,
                name=name,
                content_type=content_type,
                chunks=self._body(request, read),
                limit=self.settings.max_upload_bytes,
            )
        except DomainError as e:
            raise _translate(e) from None
        except ClientDisconnect:
            raise UploadError(400, "The client went away mid-upload", "BAD_REQUEST") from None
        except UploadError:
            raise
        except Exception as e:
            if is_pool_timeout(e):
                message = "The server is busy: no database connection was free in time"
                raise UploadError(
                    503, message, "SERVICE_UNAVAILABLE", headers={"Retry-After": "1"}
                ) from None
            correlation_id = uuid.uuid4().hex
            log.exception("unexpected error %s on %s", correlation_id, request.url.path)
            message = f"Internal server error (correlation id {correlation_id})"
            raise UploadError(500, message, "INTERNAL_SERVER_ERROR") from None

    async def _principal(self, request: Request) -> Principal:
        authorization = request.headers.get("authorization")
        principal = await authenticate(self.db, authorization, self.principals)
        parts = split_token(bearer_token(authorization) or "")
        assert parts is not None  # authenticate() accepted it
        wait = self.limiter.take(parts.key_id)
        if wait:
            raise UploadError(
                429,
                "Too many requests for this API key",
                "RATE_LIMITED",
                headers={"Retry-After": str(wait)},
            )
        return principal

    def _check_length(self, request: Request) -> None:
        declared = request.headers.get("content-length")
        if declared is None or not declared.isdigit():
            return  # chunked: counted as it streams
        if int(declared) > self.settings.max_upload_bytes:
            raise PayloadTooLarge(f"The file is larger than {self.settings.max_upload_bytes} bytes")
        if int(declared) == 0:
            raise _bad("The body is empty: send the file's bytes", "body")

    async def _body(self, request: Request, read: dict[str, bool]) -> AsyncIterator[bytes]:
        """The body's chunks; a client that sends nothing for the request timeout is dropped
        (408). The whole upload has no time limit: a large file over a slow link may take long."""
        idle = self.settings.request_timeout_seconds
        chunks = request.stream().__aiter__()
        while True:
            try:
                async with asyncio.timeout(idle):
                    chunk = await anext(chunks)
            except StopAsyncIteration:
                read["whole body"] = True
                return
            except TimeoutError:
                message = f"The body stalled: nothing arrived for {idle:g} s"
                raise UploadError(408, message, "REQUEST_TIMEOUT") from None
            if chunk:
                yield chunk


def public(row: dict[str, Any]) -> dict[str, Any]:
    """The attachment as the API shows it."""
    return {
        "id": row["id"],
        "name": row["name"],
        "size": row["size"],
        "contentType": row["content_type"],
        "sha256": row["sha256"],
        "sha1": row["sha1"],
        "md5": row["md5"],
    }


def _filename(header: str | None) -> str:
    try:
        return disposition.filename(header)
    except disposition.BadDisposition as e:
        raise _bad(str(e), "Content-Disposition") from None


def _content_type(header: str | None) -> str:
    if header is None or not header.strip():
        return DEFAULT_CONTENT_TYPE
    value = header.strip()
    if len(value) > MAX_CONTENT_TYPE_LENGTH or not _MEDIA_TYPE.fullmatch(value):
        raise _bad("Content-Type must be a media type such as application/pdf", "Content-Type")
    media, sep, parameters = value.partition(";")
    media = media.strip().lower()
    if media in FORMS:
        raise UploadError(
            415,
            f"Send the file's raw bytes with its own media type, not {media}",
            "UNSUPPORTED_MEDIA_TYPE",
            argument="Content-Type",
        )
    return media + sep + parameters


def _translate(error: DomainError) -> UploadError:
    status = next((s for kind, s in STATUS.items() if isinstance(error, kind)), 500)
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else {}
    return UploadError(status, error.message, error.code, headers=headers, **error.extensions)


def _error_response(error: UploadError, *, close: bool) -> Response:
    body = {
        "errors": [
            {"message": error.message, "extensions": {"code": error.code, **error.extensions}}
        ]
    }
    headers = dict(error.headers)
    if close:
        headers["Connection"] = "close"
    return json_response(body, error.status, JSON, headers)
