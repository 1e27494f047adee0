"""Turns the `filter` and `tql` arguments into one predicate tree and its SQL condition."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import Enum
from functools import lru_cache
from typing import Any, NoReturn

from sqlalchemy import ColumnElement
from strawberry import UNSET

from app.config import Settings
from app.errors import BadUserInput
from app.tql import (
    FALSE,
    REGISTRIES,
    TRUE,
    And,
    Entity,
    FieldRegistry,
    Has,
    InvalidValue,
    Match,
    Not,
    Op,
    Or,
    Predicate,
    TqlLimits,
    check_limits,
    compile_predicate,
    conjoin,
    make_condition,
    make_time_range,
    mentions_now,
    parse_tql,
)

CACHE_SIZE = 512

_OPS = {
    "eq": Op.EQ,
    "neq": Op.NEQ,
    "in_": Op.IN,
    "not_in": Op.NOT_IN,
    "lt": Op.LT,
    "lte": Op.LTE,
    "gt": Op.GT,
    "gte": Op.GTE,
    "contains": Op.CONTAINS,
    "starts_with": Op.STARTSWITH,
    "ends_with": Op.ENDSWITH,
}
_LOGIC = ("and_", "or_", "not_")
# An empty list follows set logic, as Django's `__in=[]` does: IN () is false, NOT IN () true.
_EMPTY: dict[Op, Predicate] = {Op.IN: FALSE, Op.NOT_IN: TRUE}


@dataclass(frozen=True)
class CompiledFilter:
    """A caller's condition: `key` identifies it (for batching), `where` is its SQL."""

    key: Predicate | None
    where: ColumnElement[bool] | None


def compile_filter(
    registry: FieldRegistry, filter: Any, tql: str | None, settings: Settings
) -> CompiledFilter:
    tree = build_predicate(registry, filter, tql, TqlLimits.from_settings(settings))
    if tree is None:
        return CompiledFilter(None, None)
    if mentions_now(tree):
        return CompiledFilter(tree, compile_predicate(tree, registry, datetime.now(UTC)))
    return CompiledFilter(tree, _compiled(tree, registry.entity))


# Dashboards send the same filters again and again. Trees and SQL expressions are immutable,
# so both are reused, by TQL text and by tree; a relative time is compiled afresh each time.
@lru_cache(maxsize=CACHE_SIZE)
def _parsed(text: str, entity: Entity, limits: TqlLimits) -> Predicate | None:
    return parse_tql(text, REGISTRIES[entity], limits)  # a mistake raises: never cached


@lru_cache(maxsize=CACHE_SIZE)
def _compiled(tree: Predicate, entity: Entity) -> ColumnElement[bool]:
    return compile_predicate(tree, REGISTRIES[entity], datetime.now(UTC))


def build_predicate(
    registry: FieldRegistry, filter: Any, tql: str | None, limits: TqlLimits
) -> Predicate | None:
    """The predicate of `filter` AND `tql`; None when neither says anything."""
    parts = []
    if filter is not None:
        tree = _Converter(registry, limits).node(filter, "filter", 0)
        try:
            check_limits(tree, limits)
        except InvalidValue as problem:
            raise BadUserInput(f"filter: {problem}", argument="filter") from None
        if tree != TRUE:
            parts.append(tree)
    if tql is not None:
        parsed = _parsed(tql, registry.entity, limits)
        if parsed is not None:
            parts.append(parsed)
    if not parts:
        return None
    return conjoin(parts)


class _Converter:
    """Walks a JobFilter/AnalyzerFilter; nesting is checked before each step down."""

    def __init__(self, registry: FieldRegistry, limits: TqlLimits) -> None:
        self.registry = registry
        self.limits = limits

    def node(self, obj: Any, path: str, depth: int) -> Predicate:
        if depth > self.limits.max_depth:
            # The path of the culprit would be as long as the nesting: name the limit only.
            self.fail(
                "filter", f"the filter is nested more than {self.limits.max_depth} levels deep"
            )
        parts: list[Predicate] = []
        # Field conditions first, then and/or/not: the order a TQL text reads in.
        for item in sorted(dataclasses.fields(obj), key=lambda f: f.name in _LOGIC):
            value = getattr(obj, item.name)
            if _given(value):
                parts.append(self.part(item.name, value, path, depth))
        return conjoin(parts)

    def part(self, name: str, value: Any, path: str, depth: int) -> Predicate:
        if name == "and_":
            return And(
                tuple(self.node(v, f"{path}.and[{i}]", depth + 1) for i, v in enumerate(value))
            )
        if name == "or_":
            return Or(
                tuple(self.node(v, f"{path}.or[{i}]", depth + 1) for i, v in enumerate(value))
            )
        if name == "not_":
            return Not(self.node(value, f"{path}.not", depth + 1))
        if name == "time_range":
            return self.time_range(value, f"{path}.timeRange")
        relation = self.registry.relations.get(name)
        if relation is not None:
            inner = _Converter(relation.fields, self.limits)
            return Has(name, inner.node(value, f"{path}.{name}", depth + 1))
        return self.field(_camel(name), value, f"{path}.{_camel(name)}")

    def field(self, name: str, ops: Any, path: str) -> Predicate:
        spec = self.registry[name]
        parts: list[Predicate] = []
        for item in dataclasses.fields(ops):
            raw = getattr(ops, item.name)
            if not _given(raw):
                continue
            if item.name == "is_null":
                op, raw = (Op.IS_NULL if raw else Op.IS_NOT_NULL), None
            else:
                op, raw = _OPS[item.name], _plain(raw)
            if op in _EMPTY and not raw:
                parts.append(_EMPTY[op])
                continue
            try:
                parts.append(make_condition(spec, op, raw, self.limits))
            except InvalidValue as problem:
                self.fail(f"{path}.{_camel(item.name)}", str(problem))
        return conjoin(parts)

    def time_range(self, value: Any, path: str) -> Predicate:
        # Explicit null means the default; an empty list is an error (make_time_range says so).
        given = value.fields
        fields = [f.value for f in given] if _given(given) else ["CREATED_AT"]
        match = Match(value.match.value) if _given(value.match) else Match.ANY
        try:
            start, end = (v if _given(v) else None for v in (value.from_, value.to))
            return make_time_range(self.registry, start, end, fields, match)
        except InvalidValue as problem:
            self.fail(path, str(problem))

    @staticmethod
    def fail(path: str, message: str) -> NoReturn:
        raise BadUserInput(f"{path}: {message}", argument="filter")


def _given(value: Any) -> bool:
    """Explicit null and an absent field mean the same: no condition."""
    return value is not None and value is not UNSET


def _plain(raw: Any) -> Any:
    """Enum members (JobStatus) as their values; lists item by item."""
    if isinstance(raw, list):
        return [_plain(item) for item in raw]
    return raw.value if isinstance(raw, Enum) else raw


def _camel(name: str) -> str:
    head, *rest = name.rstrip("_").split("_")
    return head + "".join(word.capitalize() for word in rest)
