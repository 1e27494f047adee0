"""Builds checked tree nodes from raw values, and enforces the size limits on whole trees."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from app.config import Settings
from app.tql.ast import (
    And,
    Condition,
    Has,
    Match,
    Not,
    Op,
    Or,
    Predicate,
    RelativeTime,
    TimeRange,
)
from app.tql.fields import FieldRegistry, FieldSpec
from app.tql.values import InvalidValue, RawScalar, check_text, coerce, parse_time


@dataclass(frozen=True)
class TqlLimits:
    """Size limits on a filter, checked before any SQL is built."""

    max_length: int = 4000
    max_in_values: int = 500
    max_depth: int = 32
    max_terms: int = 200

    @classmethod
    def from_settings(cls, settings: Settings) -> TqlLimits:
        return cls(
            max_length=settings.tql_max_length,
            max_in_values=settings.tql_max_in_values,
            max_depth=settings.tql_max_depth,
            max_terms=settings.tql_max_terms,
        )


RawValue = RawScalar | Sequence[RawScalar] | None
_LISTS = (Op.IN, Op.NOT_IN)
_NO_VALUE = (Op.IS_NULL, Op.IS_NOT_NULL)


def make_condition(spec: FieldSpec, op: Op, raw: RawValue, limits: TqlLimits) -> Condition:
    """A condition whose operator the field allows and whose values fit the field's type."""
    if op not in spec.operators:
        allowed = ", ".join(o.value for o in spec.operators)
        raise InvalidValue(f"{spec.name} does not support {op.value}; it supports {allowed}")
    if op in _NO_VALUE:
        return Condition(spec.name, op)
    if op in _LISTS or op is Op.BETWEEN:
        assert isinstance(raw, Sequence) and not isinstance(raw, str)
        if op is Op.BETWEEN and len(raw) != 2:
            raise InvalidValue("BETWEEN takes exactly two values")
        if len(raw) > limits.max_in_values:
            raise InvalidValue(
                f"{op.value} has {len(raw)} values; at most {limits.max_in_values} are allowed"
            )
        return Condition(spec.name, op, tuple(coerce(spec, item) for item in raw))
    assert raw is not None and (isinstance(raw, str) or not isinstance(raw, Sequence))
    return Condition(spec.name, op, coerce(spec, raw))


def make_time_range(
    registry: FieldRegistry,
    start: str | None,
    end: str | None,
    time_fields: Sequence[str],
    match: Match,
) -> TimeRange:
    """A time range over the registry's time fields, named as their enum (CREATED_AT)."""
    if not time_fields:
        raise InvalidValue("timeRange.fields must name at least one time field")
    if start is None and end is None:
        raise InvalidValue("timeRange needs from, to or both")
    names = []
    for item in time_fields:
        name = registry.time_fields.get(item)
        if name is None:
            raise InvalidValue(f"unknown time field {item}")
        if name not in names:
            names.append(name)
    return TimeRange(_bound("from", start), _bound("to", end), tuple(names), match)


def _bound(label: str, text: str | None) -> datetime | RelativeTime | None:
    if text is None:
        return None
    try:
        return parse_time(check_text(text))
    except InvalidValue as error:
        raise InvalidValue(f"timeRange.{label}: {error}") from None


def check_limits(tree: Predicate, limits: TqlLimits) -> None:
    """Depth (nesting of and/or/not) and number of terms, walked without recursion."""
    terms = 0
    stack: list[tuple[Predicate, int]] = [(tree, 0)]
    while stack:
        node, depth = stack.pop()
        if depth > limits.max_depth:
            raise InvalidValue(f"the filter is nested more than {limits.max_depth} levels deep")
        if isinstance(node, And | Or):
            stack.extend((item, depth + 1) for item in node.items)
        elif isinstance(node, Not | Has):
            stack.append((node.item, depth + 1))
        else:
            terms += len(node.fields) if isinstance(node, TimeRange) else 1
    if terms > limits.max_terms:
        raise InvalidValue(f"the filter has {terms} terms; at most {limits.max_terms} are allowed")
