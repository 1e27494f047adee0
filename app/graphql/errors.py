"""Maps errors to what clients see, in one place: domain errors keep their code and message;
anything unexpected is masked and logged with a correlation id."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterator

from graphql import GraphQLError, GraphQLSyntaxError
from strawberry.extensions import SchemaExtension

from app.errors import DomainError

log = logging.getLogger("jobql.errors")
MASKED = "Internal server error"


def present(error: GraphQLError) -> GraphQLError:
    original = error.original_error
    if isinstance(original, DomainError):
        return _with(error, original.message, {"code": original.code, **original.extensions})
    if original is None or isinstance(original, GraphQLError) or error.path is None:
        # graphql-core's own parse, validation and coercion errors: useful, and ours to keep.
        return _with(
            error, error.message, {"code": _graphql_code(error), **(error.extensions or {})}
        )
    correlation_id = uuid.uuid4().hex
    log.error("unexpected error %s at %s", correlation_id, error.path, exc_info=original)
    return _with(error, MASKED, {"code": "INTERNAL_SERVER_ERROR", "correlationId": correlation_id})


def _graphql_code(error: GraphQLError) -> str:
    if error.extensions and "code" in error.extensions:
        return str(error.extensions["code"])
    if isinstance(error, GraphQLSyntaxError) or error.message.startswith("Syntax Error"):
        return "GRAPHQL_PARSE_FAILED"
    if error.message.startswith("Variable '$"):
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


class ErrorPresenter(SchemaExtension):
    def on_operation(self) -> Iterator[None]:
        yield
        result = self.execution_context.result
        if result is not None and result.errors:
            result.errors = [present(e) for e in result.errors]
