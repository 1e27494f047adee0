"""Domain errors, each with a stable code that the API reports in `extensions.code`.

Services raise these; the GraphQL layer maps them to errors in one place. Anything else that
escapes is a bug: it is logged with a correlation id and masked for the client.
"""

from __future__ import annotations

from typing import Any


class DomainError(Exception):
    """Base of every error a client may see, with its message and extensions."""

    code = "INTERNAL_SERVER_ERROR"

    def __init__(self, message: str, **extensions: Any) -> None:
        super().__init__(message)
        self.message = message
        self.extensions = extensions


class Unauthenticated(DomainError):
    code = "UNAUTHENTICATED"


class Forbidden(DomainError):
    code = "FORBIDDEN"


class NotFound(DomainError):
    code = "NOT_FOUND"


class BadUserInput(DomainError):
    """Bad argument: `argument` names it, further extensions say where and why."""

    code = "BAD_USER_INPUT"

    def __init__(self, message: str, *, argument: str, **extensions: Any) -> None:
        super().__init__(message, argument=argument, **extensions)
        self.argument = argument


class Conflict(DomainError):
    code = "CONFLICT"


class PayloadTooLarge(DomainError):
    """More bytes than a limit allows (an upload past JOBQL_MAX_UPLOAD_BYTES): HTTP 413."""

    code = "PAYLOAD_TOO_LARGE"


class QueryTooComplex(DomainError):
    code = "QUERY_TOO_COMPLEX"


class ServiceUnavailable(DomainError):
    """The server cannot serve the request now (no database connection was free in time).
    The whole response is HTTP 503 with Retry-After."""

    code = "SERVICE_UNAVAILABLE"


class Timeout(DomainError):
    """A time budget ran out: a database statement, or the whole request."""

    code = "TIMEOUT"
