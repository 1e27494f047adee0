"""Descriptions for the values of domain enums exposed as GraphQL enums."""

from __future__ import annotations

from collections.abc import Mapping
from enum import Enum
from typing import TypeVar

E = TypeVar("E", bound=type[Enum])


def describe_values(enum: E, descriptions: Mapping[str, str]) -> E:
    """Documents every value of an enum already passed to `strawberry.enum`.

    `strawberry.enum_value` would need the domain enum's members to be strawberry objects; the
    services keep plain StrEnums, so the descriptions are attached to the GraphQL definition.
    A missing or unknown name is a KeyError at import: an undocumented value cannot slip in.
    """
    definition = enum.__strawberry_definition__  # type: ignore[attr-defined]
    if set(descriptions) != {value.name for value in definition.values}:
        raise KeyError(f"{definition.name}: describe exactly {[v.name for v in definition.values]}")
    for value in definition.values:
        value.description = descriptions[value.name]
    return enum
