"""The schema, assembled with its limits and caches."""

from __future__ import annotations

from typing import Any

import strawberry
from graphql import (
    GraphQLArgument,
    GraphQLDefaultInput,
    GraphQLError,
    GraphQLInputField,
    GraphQLInputObjectType,
    GraphQLInterfaceType,
    GraphQLObjectType,
    GraphQLSchema,
    Undefined,
    ast_from_value,
    value_to_literal,
)
from strawberry.schema.config import StrawberryConfig

from app.config import Settings
from app.graphql.admin import AdminMutation, AdminQuery
from app.graphql.documents import QueryLimits, TrustedOnly
from app.graphql.errors import ErrorPresenter
from app.graphql.executor import PlannedExecutor
from app.graphql.live import LiveQuery, Subscription
from app.graphql.mutations import Mutation
from app.graphql.queries import Query
from app.graphql.queue_mutations import QueueMutation
from app.graphql.scalars import SCALARS
from app.trusted import Manifest


@strawberry.type(
    name="Mutation",
    description="Everything that changes jobs, analyzers and API keys. Each field names the "
    "roles it needs (@hasRole); every change of a job is recorded in its events, and every "
    "destructive or administrative act in `auditEvents`.",
)
class RootMutation(Mutation, QueueMutation, AdminMutation):
    """The users' mutations, the write side's and ORGADMIN's, as one root type."""


@strawberry.type(
    name="Query",
    description="Everything that can be read. All of it is scoped to the caller's organization.",
)
class RootQuery(Query, AdminQuery, LiveQuery):
    """The readers' fields, ORGADMIN's (keys, audit trail) and the polling side of live
    updates, as one root type."""


class Schema(strawberry.Schema):
    def process_errors(self, errors: list[GraphQLError], execution_context: Any = None) -> None:
        """Client errors are answers, not incidents: ErrorPresenter logs the unexpected ones,
        with their traceback and correlation id."""


def build_schema(settings: Settings) -> strawberry.Schema:
    extensions: list[Any] = [
        # Factories: strawberry builds extensions per request. QueryLimits parses and validates
        # through shared caches, and checks depth, aliases, tokens, connection nodes and
        # repeated fields first, with this request's variables.
        lambda: ErrorPresenter(max_errors=settings.max_errors),
        lambda: QueryLimits(settings),
    ]
    if settings.trusted_documents is not None:
        manifest = Manifest.load(settings.trusted_documents)
        # Last: its refusal replaces whatever the others found in an unregistered document.
        extensions.append(lambda: TrustedOnly(manifest))
    schema = Schema(
        query=RootQuery,
        mutation=RootMutation,
        subscription=Subscription,
        config=StrawberryConfig(scalar_map=SCALARS),
        execution_context_class=PlannedExecutor,
        extensions=extensions,
    )
    _json_defaults_as_literals(schema._schema)
    return schema


def _json_defaults_as_literals(schema: GraphQLSchema) -> None:
    """Introspection prints each default value as a literal, and graphql-core cannot make one
    of a custom scalar's object or list (`parameters: JSON = {}` answered `defaultValue` with
    an INTERNAL_SERVER_ERROR): such defaults are given to it as literals instead."""
    inputs: list[GraphQLArgument | GraphQLInputField] = []
    for named in schema.type_map.values():
        if isinstance(named, GraphQLInputObjectType):
            inputs += named.fields.values()
        elif isinstance(named, GraphQLObjectType | GraphQLInterfaceType):
            inputs += [arg for field in named.fields.values() for arg in field.args.values()]
    for item in inputs:
        if item.default_value is Undefined or item.default is not None:
            continue
        try:
            ast_from_value(item.default_value, item.type)
        except TypeError:  # `default` is read first; strawberry's printer still reads the other
            literal = value_to_literal(item.default_value, item.type)  # objects and lists too
            item.default = GraphQLDefaultInput(literal=literal)


def schema_sdl() -> str:
    """The SDL the code defines: `schema.graphql` at the repository root must equal it."""
    return build_schema(Settings()).as_str() + "\n"
