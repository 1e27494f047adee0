"""schema.graphql is generated from the code and documents every part of the API."""

from __future__ import annotations

from pathlib import Path

from graphql import GraphQLEnumType, GraphQLInputObjectType, GraphQLObjectType, build_schema

from app.graphql.schema import schema_sdl

SCHEMA_FILE = Path(__file__).parents[1] / "schema.graphql"


def test_schema_file_matches_the_code() -> None:
    assert SCHEMA_FILE.read_text() == schema_sdl(), (
        "schema.graphql is stale: run `jobql export-schema > schema.graphql`"
    )


def test_every_type_field_argument_and_enum_value_is_described() -> None:
    schema = build_schema(SCHEMA_FILE.read_text())
    missing = []
    for name, named in schema.type_map.items():
        if name.startswith("__") or name in ("String", "Int", "Boolean", "ID", "Float"):
            continue
        if not named.description:
            missing.append(name)
        if isinstance(named, GraphQLObjectType | GraphQLInputObjectType):
            for field_name, field in named.fields.items():
                if not field.description:
                    missing.append(f"{name}.{field_name}")
                for arg_name, arg in getattr(field, "args", {}).items():
                    if not arg.description:
                        missing.append(f"{name}.{field_name}({arg_name})")
        if isinstance(named, GraphQLEnumType):
            missing += [
                f"{name}.{v}"
                for v, value in named.values.items()
                if not value.description and name not in DESCRIBED_BY_TYPE
            ]
    assert not missing, missing


# Enums whose values explain themselves in the type's own description.
DESCRIBED_BY_TYPE = {"JobStatus", "TaxonomyLevel", "Role", "OrderDirection", "JobOrderField"}
