"""@hasRole: printed on every mutation in schema.graphql, and enforced by the server."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from graphql import (
    GraphQLEnumType,
    GraphQLField,
    GraphQLInputObjectType,
    GraphQLList,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLSchema,
    build_schema,
    get_named_type,
)
from graphql.language import ListValueNode

from tests.support import Env, error_codes

SCHEMA_FILE = Path(__file__).parents[1] / "schema.graphql"
# The contract (DESIGN.md), written out.
CONTRACT = {
    "cancelJob": ["ANALYZE", "ORGADMIN"],
    "deleteJob": ["ANALYZE", "ORGADMIN"],
    "deleteJobs": ["ORGADMIN"],
    "purgeJob": ["ORGADMIN"],
    "submitJob": ["ANALYZE", "ORGADMIN"],
    "submitJobs": ["ANALYZE", "ORGADMIN"],
    "cancelJobs": ["ORGADMIN"],
    "claimJobs": ["WORKER"],
    "heartbeat": ["WORKER"],
    "completeJob": ["WORKER"],
    "failJob": ["WORKER"],
    "releaseJob": ["WORKER"],
    "updateAnalyzer": ["ORGADMIN"],
    "createApiKey": ["ORGADMIN"],
    "revokeApiKey": ["ORGADMIN"],
}
# The query fields that need a role (reading otherwise needs only a key).
QUERY_CONTRACT = {"apiKeys": ["ORGADMIN"], "auditEvents": ["ORGADMIN"], "workers": ["ORGADMIN"]}
# Who holds which roles in the demo data.
KEY_ROLES = {"demo.read": {"READ"}, "demo.analyze": {"READ", "ANALYZE"}}


def _schema() -> GraphQLSchema:
    return build_schema(SCHEMA_FILE.read_text())


def _mutation_fields() -> dict[str, GraphQLField]:
    mutation = _schema().mutation_type
    assert isinstance(mutation, GraphQLObjectType)
    return dict(mutation.fields)


def _query_fields() -> dict[str, GraphQLField]:
    query = _schema().query_type
    assert isinstance(query, GraphQLObjectType)
    return dict(query.fields)


def printed_roles(field: GraphQLField) -> list[str] | None:
    """The roles of the field's @hasRole in schema.graphql; None without one."""
    assert field.ast_node is not None
    for directive in field.ast_node.directives or ():
        if directive.name.value == "hasRole":
            (argument,) = directive.arguments
            assert argument.name.value == "roles" and isinstance(argument.value, ListValueNode)
            return [value.value for value in argument.value.values]  # type: ignore[attr-defined]
    return None


def test_the_directive_is_declared() -> None:
    directive = _schema().get_directive("hasRole")
    assert directive is not None
    assert str(directive.args["roles"].type) == "[Role!]!"


def test_every_mutation_field_carries_has_role() -> None:
    missing = [name for name, field in _mutation_fields().items() if printed_roles(field) is None]
    assert not missing, f"Mutation fields without @hasRole: {missing}"


def test_the_printed_roles_are_the_contracts() -> None:
    printed = {name: printed_roles(field) for name, field in _mutation_fields().items()}
    assert {name: printed[name] for name in CONTRACT} == CONTRACT


def test_the_guarded_query_fields_are_the_contracts() -> None:
    printed = {name: printed_roles(field) for name, field in _query_fields().items()}
    assert {name: roles for name, roles in printed.items() if roles} == QUERY_CONTRACT


@pytest.mark.parametrize("key", list(KEY_ROLES))
async def test_every_guarded_query_field_is_enforced(env: Env, key: str) -> None:
    for name, field in _query_fields().items():
        roles = printed_roles(field)
        if not roles or KEY_ROLES[key] & set(roles):
            continue
        body = await env.gql(*_call(name, field, "query"), key=key)
        assert error_codes(body) == ["FORBIDDEN"], (name, body)
        assert body["data"] is None  # nothing of the field leaks beside the error


@pytest.mark.parametrize("key", list(KEY_ROLES))
async def test_every_printed_guard_is_enforced(env: Env, key: str) -> None:
    """Each mutation the key's roles do not cover answers FORBIDDEN, whatever its arguments."""
    for name, field in _mutation_fields().items():
        roles = printed_roles(field) or []
        if KEY_ROLES[key] & set(roles):
            continue
        body = await env.gql(*_call(name, field), key=key)
        assert error_codes(body) == ["FORBIDDEN"], (name, body)
        assert body["errors"][0]["extensions"]["roles"] == sorted(roles)


def _call(
    name: str, field: GraphQLField, operation: str = "mutation"
) -> tuple[str, dict[str, object]]:
    """A call with every required argument filled in (IDs and strings alike)."""
    required = {
        arg: spec for arg, spec in field.args.items() if isinstance(spec.type, GraphQLNonNull)
    }
    declared = ", ".join(f"${arg}: {spec.type}" for arg, spec in required.items())
    passed = ", ".join(f"{arg}: ${arg}" for arg in required)
    selection = (
        " { __typename }" if isinstance(get_named_type(field.type), GraphQLObjectType) else ""
    )
    head = f"{operation}({declared})" if declared else operation
    call = f"{name}({passed})" if passed else name
    values = {arg: _value(spec.type) for arg, spec in required.items()}
    return f"{head} {{ {call}{selection} }}", values


def _value(kind: Any) -> Any:
    """A value that coerces to `kind`, so the guard, not coercion, answers: every required
    field of an input object filled in, recursively."""
    if isinstance(kind, GraphQLNonNull):
        kind = kind.of_type
    if isinstance(kind, GraphQLList):
        return [_value(kind.of_type)]
    if isinstance(kind, GraphQLInputObjectType):
        fields = kind.fields.items()
        return {n: _value(f.type) for n, f in fields if isinstance(f.type, GraphQLNonNull)}
    if isinstance(kind, GraphQLEnumType):
        return next(iter(kind.values))
    return {"Int": 1, "Boolean": False}.get(kind.name, "f" * 20)
