"""What TQL and the typed filters can filter on, as the API lists it (tqlFields)."""

from __future__ import annotations

from enum import Enum

import strawberry

from app.tql import REGISTRIES, Entity, FieldRegistry


@strawberry.enum(description="What a TQL text or typed filter selects.")
class TqlEntity(Enum):
    JOB = strawberry.enum_value("JOB", description="Jobs (jobs, Analyzer.jobs): JobFilter.")
    ANALYZER = strawberry.enum_value("ANALYZER", description="Analyzers: AnalyzerFilter.")


@strawberry.enum(description="The type of a filterable field: what values it takes.")
class TqlFieldType(Enum):
    STRING = strawberry.enum_value("STRING", description="Text: \"…\" or '…'.")
    INT = strawberry.enum_value("INT", description="A 32-bit signed integer.")
    DATETIME = strawberry.enum_value(
        "DATETIME", description='A time as text: ISO-8601 (UTC without offset) or "now - 7 days".'
    )
    ENUM = strawberry.enum_value("ENUM", description="One of enumValues, as text, in any case.")
    ID = strawberry.enum_value("ID", description="An id, as text.")
    BOOLEAN = strawberry.enum_value("BOOLEAN", description="true or false.")
    RELATION = strawberry.enum_value(
        "RELATION",
        description="Rows of the job (its taxonomies, its artifacts): `name HAS (…)` with "
        "conditions on `fields`, all holding for one row.",
    )


@strawberry.type(description="A field that TQL and the typed filter can filter on.")
class TqlField:
    name: str = strawberry.field(description="Its name, in TQL and in the typed filter.")
    type: TqlFieldType = strawberry.field(description="Its type.")
    operators: list[str] = strawberry.field(
        description='The TQL operators it takes, as written in TQL ("=", "NOT IN", "IS NULL"…).'
    )
    enum_values: list[str] = strawberry.field(
        description="The values it takes, for enum fields (matched in any case); else empty."
    )
    description: str = strawberry.field(description="What it is.")
    nullable: bool = strawberry.field(
        description="Whether it can be null; a null field matches only IS NULL."
    )
    fields: list[TqlField] = strawberry.field(
        description="For a RELATION: the fields a `HAS (…)` condition can test; else empty."
    )


def tql_fields(entity: TqlEntity) -> list[TqlField]:
    """From the registry the compiler uses, so the list cannot drift from what works."""
    registry = REGISTRIES[Entity(entity.value)]
    return _fields(registry) + [
        TqlField(
            name=relation.name,
            type=TqlFieldType.RELATION,
            operators=["HAS"],
            enum_values=[],
            description=relation.description,
            nullable=False,
            fields=_fields(relation.fields),
        )
        for relation in registry.relations.values()
    ]


def _fields(registry: FieldRegistry) -> list[TqlField]:
    return [
        TqlField(
            name=spec.name,
            type=TqlFieldType(spec.type.value),
            operators=[op.value for op in spec.operators],
            enum_values=list(spec.enum_values),
            description=spec.description,
            nullable=spec.nullable,
            fields=[],
        )
        for spec in registry.values()
    ]
