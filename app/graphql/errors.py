"""Maps errors to what clients see, in one place: domain errors keep their code and message;
anything unexpected is masked and logged with a correlation id."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterator
from typing import Any

from graphql import GraphQLError, GraphQLSyntaxError, Node
from strawberry.extensions import SchemaExtension

from app.db.deadline import is_pool_timeout, is_statement_timeout
from app.errors import BadUserInput, DomainError, ServiceUnavailable, Timeout
from app.graphql.limits import CODE as TOO_COMPLEX

log = logging.getLogger("jobql.errors")
MASKED = "Internal server error"
# graphql-core words coercion errors itself (of a variable; of a literal, during validation),
# with our scalars' messages inside: they are about the client's input.
COERCION_PREFIX = "Variable '$"
COERCION_PREFIXES = (COERCION_PREFIX, "Expected value of type")


def present(error: GraphQLError) -> GraphQLError:
    original = error.original_error
    domain = _domain(original) or _not_text(error)
    if domain is not None:
        return _with(error, domain.message, {"code": domain.code, **domain.extensions})
    if original is None or isinstance(original, GraphQLError) or _is_coercion(error):
        # graphql-core's own parse, validation and coercion errors: useful, and ours to keep.
        return _with(
            error, error.message, {"code": _graphql_code(error), **(error.extensions or {})}
        )
    # Anything else is a bug, whether a resolver raised it or not (an error without a path
    # comes from parsing, validation or an extension: a RecursionError there says nothing
    # a client should read either).
    correlation_id = uuid.uuid4().hex
    log.error("unexpected error %s at %s", correlation_id, error.path, exc_info=original)
    return _with(error, MASKED, {"code": "INTERNAL_SERVER_ERROR", "correlationId": correlation_id})


def _domain(original: BaseException | None) -> DomainError | None:
    if isinstance(original, DomainError):
        return original
    if is_pool_timeout(original):
        return ServiceUnavailable("The server is busy: no database connection was free in time")
    if is_statement_timeout(original):
        return Timeout("The database took longer than its time budget: narrow the query")
    return None


def _not_text(error: GraphQLError) -> DomainError | None:
    """JSON may carry a lone UTF-16 surrogate ("\\ud800"); no database takes it as text."""
    cause: BaseException | None = error.original_error
    while cause is not None and not isinstance(cause, UnicodeError):
        cause = cause.__cause__ or cause.__context__
    if cause is None:
        return None
    field = error.nodes[0] if error.nodes else None
    arguments = [a.name.value for a in getattr(field, "arguments", None) or ()]
    return BadUserInput(
        "A string in the request holds a lone UTF-16 surrogate, which is not text",
        argument=arguments[0] if len(arguments) == 1 else "variables",
    )


def _is_coercion(error: GraphQLError) -> bool:
    return error.path is None and error.message.startswith(COERCION_PREFIXES)


def _graphql_code(error: GraphQLError) -> str:
    if error.extensions and "code" in error.extensions:
        return str(error.extensions["code"])
    if isinstance(error, GraphQLSyntaxError) or error.message.startswith("Syntax Error"):
        return "GRAPHQL_PARSE_FAILED"
    if error.message.startswith(COERCION_PREFIX):
        return "BAD_USER_INPUT"
    return "GRAPHQL_VALIDATION_FAILED"


def _with(error: GraphQLError, message: str, extensions: dict[str, object]) -> GraphQLError:
    return GraphQLError(
        message,
        nodes=error.nodes,
        source=error.source,
        positions=error.positions,
        path=error.path,
        extensions=extensions,
    )


def capped(errors: list[GraphQLError], maximum: int) -> list[GraphQLError]:
    """At most `maximum` errors, then one that counts the rest: a page of 100 jobs failing on
    every field must not make a response (and a log) of thousands."""
    if len(errors) <= maximum:
        return errors
    omitted = len(errors) - maximum
    notice = GraphQLError(
        f"{omitted} more errors are not shown: at most {maximum} are returned",
        extensions={"code": TOO_COMPLEX, "limit": "errors", "maximum": maximum, "omitted": omitted},
    )
    return [*errors[:maximum], notice]


def merged(errors: list[GraphQLError]) -> list[GraphQLError]:
    """Errors of the document (no path) that say the same thing, as one error listing every
    place: the same unknown directive ten times is one mistake, not ten. Made anew, never
    changed in place: the validated document's errors are cached and shared by requests."""
    places: dict[tuple[str, str], list[Node]] = {}
    kept: list[GraphQLError] = []
    for error in errors:
        if error.path is not None or not error.nodes:
            kept.append(error)
            continue
        same = places.setdefault(_sameness(error), [])
        if not same:
            kept.append(error)
        same.extend(error.nodes)
    return [_at_every_place(error, places) for error in kept]


def _sameness(error: GraphQLError) -> tuple[str, str]:
    return error.message, repr(sorted((error.extensions or {}).items()))


def _at_every_place(error: GraphQLError, places: dict[tuple[str, str], list[Node]]) -> GraphQLError:
    if error.path is not None or not error.nodes:
        return error
    nodes = places[_sameness(error)]
    if len(nodes) == len(error.nodes):
        return error
    return GraphQLError(
        error.message, nodes=nodes, original_error=error.original_error, extensions=error.extensions
    )


class ErrorPresenter(SchemaExtension):
    def __init__(self, max_errors: int = 50) -> None:
        self.max_errors = max_errors

    def on_operation(self) -> Iterator[None]:
        yield
        result = self.execution_context.result
        if result is not None and result.errors:
            errors = capped(merged(list(result.errors)), self.max_errors)
            result.errors = [present(e) for e in errors]

    def on_stream_result(self, result: Any) -> Iterator[None]:
        """Each result of a subscription (over WebSocket or SSE), presented the same way."""
        errors = getattr(result, "errors", None)
        if errors:
            result.errors = [present(e) for e in capped(merged(list(errors)), self.max_errors)]
        yield
