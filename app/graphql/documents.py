"""GraphQL documents: parsed and validated once (cached), and held to the query-shape limits
before graphql-core's validation spends time on them."""

from __future__ import annotations

from collections.abc import Iterator
from functools import lru_cache

from graphql import (
    ASTValidationRule,
    DocumentNode,
    GraphQLError,
    GraphQLSchema,
    GraphQLSyntaxError,
    get_operation_ast,
    parse,
)
from strawberry.extensions import SchemaExtension
from strawberry.schema.schema import validate_document
from strawberry.types.graphql import OperationType

from app.config import Settings
from app.graphql.limits import CODE, ShapeLimits, check_shape
from app.persisted import ONLY, ONLY_MESSAGE
from app.trusted import Manifest

CACHE_SIZE = 512
# graphql-core's own parse limits, reported as syntax errors: they are limits all the same.
PARSE_LIMIT_MESSAGES = ("tokens. Parsing aborted.", "nested too deeply. Parsing aborted.")


@lru_cache(maxsize=CACHE_SIZE)
def parse_document(query: str, max_tokens: int) -> DocumentNode:
    """The parsed document; a syntax error is raised, and not cached."""
    return parse(query, max_tokens=max_tokens)


@lru_cache(maxsize=CACHE_SIZE)
def validation_errors(
    schema: GraphQLSchema, query: str, max_tokens: int, rules: tuple[type[ASTValidationRule], ...]
) -> tuple[GraphQLError, ...]:
    # Keyed by the query text, whose hash Python caches, rather than by the document tree.
    return tuple(validate_document(schema, parse_document(query, max_tokens), rules))


def operation_type(document: DocumentNode, operation_name: str | None) -> OperationType | None:
    """The type of the operation a request would run; None when the document cannot say (an
    unknown or ambiguous operation name): execution then reports why."""
    operation = get_operation_ast(document, operation_name)
    return OperationType(operation.operation.value) if operation is not None else None


def parse_error(query: str, max_tokens: int) -> GraphQLError | None:
    """Why `query` does not parse (limits tagged QUERY_TOO_COMPLEX); None when it does. Parsed
    once here, the document is in the cache when execution asks for it."""
    try:
        parse_document(query, max_tokens)
    except GraphQLError as error:
        tag_parse_limit(error)
        return error
    return None


def tag_parse_limit(error: GraphQLError) -> None:
    if isinstance(error, GraphQLSyntaxError) and error.message.endswith(PARSE_LIMIT_MESSAGES):
        error.extensions = {"code": CODE, "limit": "parser"}


class QueryLimits(SchemaExtension):
    """Parses through the shared cache, checks the query's shape against the limits (with this
    request's variables), then validates through the shared cache."""

    def __init__(self, settings: Settings) -> None:
        self.limits = ShapeLimits.from_settings(settings)
        self.max_tokens = settings.max_tokens

    def on_parse(self) -> Iterator[None]:
        context = self.execution_context
        context.parse_options["max_tokens"] = self.max_tokens
        if context.graphql_document is None and context.query:
            try:
                context.graphql_document = parse_document(context.query, self.max_tokens)
            except GraphQLError:
                # Left to strawberry, which parses again and reports the error in the result.
                pass
        yield
        for error in context.pre_execution_errors or ():
            tag_parse_limit(error)

    def on_validate(self) -> Iterator[None]:
        context = self.execution_context
        schema = context.schema._schema  # the graphql-core schema, as ValidationCache reads it
        assert context.graphql_document is not None and context.query is not None
        document, variables = context.graphql_document, context.variables
        error = check_shape(schema, document, variables, self.limits, context.query)
        if error is not None:
            context.pre_execution_errors = [error]  # strawberry then skips validation
        else:
            rules = tuple(context.validation_rules)
            context.pre_execution_errors = list(
                validation_errors(schema, context.query, self.max_tokens, rules)
            )
        yield


class TrustedOnly(SchemaExtension):
    """Trusted documents for what does not come through the HTTP endpoint's check (operations
    over WebSocket): a document the manifest lacks is a request error, and nothing runs."""

    def __init__(self, manifest: Manifest) -> None:
        self.manifest = manifest

    def on_validate(self) -> Iterator[None]:
        context = self.execution_context
        if context.query is not None and not self.manifest.allows(context.query):
            context.pre_execution_errors = [GraphQLError(ONLY_MESSAGE, extensions={"code": ONLY})]
        yield
