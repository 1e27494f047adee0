"""Compiles a predicate tree to one SQLAlchemy boolean expression with bound parameters only."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from sqlalchemy import (
    ColumnElement,
    and_,
    exists,
    false,
    func,
    literal_column,
    not_,
    or_,
    select,
    true,
)

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
    Scalar,
    TimeRange,
)
from app.tql.fields import AnyHash, FieldRegistry, FieldSpec, JsonList, Related
from app.tql.sql import ascii_lower, json_list_contains

Expr = ColumnElement[Any]
Bool = ColumnElement[bool]

_ASCII_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")
_LIKE = {
    Op.CONTAINS: ("%", "%"),
    Op.STARTSWITH: ("", "%"),
    Op.ENDSWITH: ("%", ""),
}
_NEGATED_LIKE = {Op.NOT_CONTAINS: Op.CONTAINS, Op.NOT_STARTSWITH: Op.STARTSWITH}
_NEGATED_LIKE[Op.NOT_ENDSWITH] = Op.ENDSWITH
_SIMPLE: dict[Op, Callable[[Expr, Any], Bool]] = {
    Op.EQ: lambda col, v: col == v,
    Op.NEQ: lambda col, v: col != v,
    Op.LT: lambda col, v: col < v,
    Op.LTE: lambda col, v: col <= v,
    Op.GT: lambda col, v: col > v,
    Op.GTE: lambda col, v: col >= v,
    Op.IN: lambda col, v: col.in_(v),
    Op.NOT_IN: lambda col, v: col.not_in(v),
    Op.BETWEEN: lambda col, v: col.between(v[0], v[1]),
    Op.IS_NULL: lambda col, v: col.is_(None),
    Op.IS_NOT_NULL: lambda col, v: col.is_not(None),
}


def compile_predicate(tree: Predicate, registry: FieldRegistry, now: datetime) -> Bool:
    """The WHERE clause for `tree`; `now` (aware) resolves relative times."""
    return _Compiler(registry, now).node(tree, positive=True)


def mentions_now(tree: Predicate) -> bool:
    """Whether `tree` holds a relative time, so that its SQL changes from moment to moment."""
    if isinstance(tree, And | Or):
        return any(mentions_now(item) for item in tree.items)
    if isinstance(tree, Not | Has):
        return mentions_now(tree.item)
    if isinstance(tree, TimeRange):
        values: tuple[Any, ...] = (tree.start, tree.end)
    else:
        values = tree.value if isinstance(tree.value, tuple) else (tree.value,)
    return any(isinstance(value, RelativeTime) for value in values)


class _Compiler:
    def __init__(self, registry: FieldRegistry, now: datetime) -> None:
        self.registry = registry
        self.now = now

    def node(self, tree: Predicate, positive: bool) -> Bool:
        """`positive` is False under an odd number of NOTs (see `related`)."""
        if isinstance(tree, And):
            items = [self.node(item, positive) for item in tree.items]
            return and_(*items) if items else true()
        if isinstance(tree, Or):
            items = [self.node(item, positive) for item in tree.items]
            return or_(*items) if items else false()
        if isinstance(tree, Not):
            return not_(self.node(tree.item, not positive))
        if isinstance(tree, TimeRange):
            return self.time_range(tree)
        if isinstance(tree, Has):
            return self.has(tree)
        return self.condition(tree, positive)

    def has(self, tree: Has) -> Bool:
        """EXISTS (SELECT 1 FROM related WHERE related.owner = row.key AND inner): one row
        of the relation matches every condition. Never unknown, so NOT (…) is its complement."""
        relation = self.registry.relations[tree.relation]
        inner = _Compiler(relation.fields, self.now).node(tree.item, positive=True)
        owned = relation.column == relation.key
        return exists(select(1).where(owned, inner).correlate(relation.key.table))

    def condition(self, cond: Condition, positive: bool) -> Bool:
        spec = self.registry[cond.field]
        value = _stored(spec, self.resolve(cond.value))
        if isinstance(spec.source, AnyHash):
            return _any_hash(spec.source, cond.op, value)
        if isinstance(spec.source, JsonList):
            return _json_list(spec.source, cond.op, value)
        if isinstance(spec.source, Related):
            return _related(spec.source, cond.op, value, positive)
        return _compare(spec.source, cond.op, value)

    def resolve(self, value: Any) -> Any:
        if isinstance(value, tuple):
            return tuple(self.resolve(item) for item in value)
        if isinstance(value, RelativeTime):
            return self.now + value.offset
        return value

    def time_range(self, tr: TimeRange) -> Bool:
        """Inclusive bounds; a NULL time compares as unknown, so it is never in range."""
        start, end = self.resolve(tr.start), self.resolve(tr.end)
        in_range = []
        for name in tr.fields:
            column = self.registry[name].source
            assert not isinstance(column, JsonList | Related)
            bounds = ([column >= start] if start else []) + ([column <= end] if end else [])
            in_range.append(and_(*bounds))
        return or_(*in_range) if tr.match is Match.ANY else and_(*in_range)


def _stored(spec: FieldSpec, value: Any) -> Any:
    """The value as the column holds it: a ranked enum's rank, a hex digest in lower case."""
    if isinstance(value, tuple):
        return tuple(_stored(spec, item) for item in value)
    if spec.ranked and isinstance(value, str):
        return spec.enum_values.index(value)
    if spec.hex and isinstance(value, str):
        return value.translate(_ASCII_LOWER)
    return value


def _any_hash(source: AnyHash, op: Op, value: Any) -> Bool:
    """Attachment digests through the (indexed) digest columns, or a hash job's data through
    ix_job_hash_data (lower(data) of hash jobs). Only = and IN: never unknown."""
    values = value if isinstance(value, tuple) else (value,)
    digests = or_(*(column.in_(values) for column in source.digests))
    # The IS NOT NULL tests keep it two-valued, so NOT hash = "…" is its complement.
    keys = select(source.key).where(digests)
    by_file = and_(source.foreign_key.is_not(None), source.foreign_key.in_(keys))
    hash_data = func.lower(source.data)
    # A literal, not a parameter: PostgreSQL matches the partial index's WHERE only so.
    hash_job = source.data_type == literal_column("'hash'")
    by_data = and_(hash_job, source.data.is_not(None), hash_data.in_(values))
    return or_(by_file, by_data)


def _compare(column: Expr, op: Op, value: Any) -> Bool:
    if op in _NEGATED_LIKE:
        # NOT over LIKE keeps SQL's unknown for NULL, so NULL matches neither way.
        return not_(_like(column, _NEGATED_LIKE[op], value))
    if op in _LIKE:
        return _like(column, op, value)
    return _SIMPLE[op](column, value)


def _like(column: Expr, op: Op, text: str) -> Bool:
    """Case-insensitive for ASCII letters only, identically on both databases.

    Both sides are folded the same way; the pattern is folded here, not in SQL, because
    PostgreSQL would fold a parameter with the database's collation, not "C".
    """
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    before, after = _LIKE[op]
    pattern = before + escaped.translate(_ASCII_LOWER) + after
    return ascii_lower(column).like(pattern, escape="\\")


def _json_list(source: JsonList, op: Op, value: Any) -> Bool:
    values: tuple[Scalar, ...] = value if isinstance(value, tuple) else (value,)
    any_of = or_(*(json_list_contains(source.column, v) for v in values))
    return not_(any_of) if op in (Op.NEQ, Op.NOT_IN) else any_of


def _related(source: Related, op: Op, value: Any, positive: bool) -> Bool:
    """A condition on a column reached through a nullable foreign key.

    Outside any NOT, `fk IN (SELECT key ... WHERE cond)` is false where SQL would say unknown,
    which selects the same rows and lets PostgreSQL use an index. Under a NOT that difference
    would flip, so there the column is read with a scalar subquery, which yields a real NULL.
    """
    if op is Op.IS_NULL:
        return source.foreign_key.is_(None)
    if op is Op.IS_NOT_NULL:
        return source.foreign_key.is_not(None)
    if positive:
        keys = select(source.key).where(_compare(source.column, op, value))
        return source.foreign_key.in_(keys)
    lookup = (
        select(source.column)
        .where(source.key == source.foreign_key)
        .correlate(source.foreign_key.table)
        .scalar_subquery()
    )
    return _compare(lookup, op, value)
