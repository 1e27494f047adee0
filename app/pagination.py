"""Keyset cursor pagination, pure: sort keys, opaque cursors, predicates that seek past them.

A cursor holds the sort-key values of its row (the id last), so a page deep in a listing costs
what the first page costs, and rows written meanwhile never shift a walk by one.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import Enum
from typing import Any

import orjson
from sqlalchemy import ColumnElement, UnaryExpression, and_, false, or_, tuple_

from app.errors import BadUserInput

CURSOR_VERSION = 1


class KeyType(Enum):
    DATETIME = datetime
    INT = int
    STR = str


@dataclass(frozen=True, slots=True)
class SortKey:
    name: str
    expression: ColumnElement[Any]
    type: KeyType
    nullable: bool
    descending: bool
    value: Callable[[Any], Any]  # the key's value in a fetched row


@dataclass(frozen=True, slots=True)
class Ordering:
    """The sort keys of a listing; the last one is the unique id that breaks ties."""

    keys: tuple[SortKey, ...]
    signature: str = field(init=False)  # what a cursor says it belongs to: "CREATED_AT:DESC,…"

    def __post_init__(self) -> None:
        names = (f"{k.name}:{'DESC' if k.descending else 'ASC'}" for k in self.keys)
        object.__setattr__(self, "signature", ",".join(names))

    def order_by(self, backward: bool) -> list[UnaryExpression[Any]]:
        """ORDER BY of the walk; a backward walk reads the same order from its other end."""
        clauses = []
        for key in self.keys:
            clause = key.expression.desc() if key.descending != backward else key.expression.asc()
            if key.nullable:  # NULLs sort last in the listing's own order, on both databases
                clause = clause.nulls_first() if backward else clause.nulls_last()
            clauses.append(clause)
        return clauses

    def cursor(self, row: Any) -> str:
        return self.encode([key.value(row) for key in self.keys])

    def encode(self, values: Sequence[Any]) -> str:
        """The cursor of the row whose sort-key values (in key order) are `values`."""
        # orjson writes an aware datetime as isoformat() does ("…T12:00:00.5+00:00").
        raw = orjson.dumps([CURSOR_VERSION, self.signature, list(values)])
        return base64.urlsafe_b64encode(raw).decode().rstrip("=")

    def decode(self, cursor: str, argument: str) -> tuple[Any, ...]:
        """The key values inside `cursor`; BadUserInput if it is not one of this order's."""
        bad = BadUserInput(
            f"`{argument}` is not a cursor of this listing in this order", argument=argument
        )
        try:
            raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
            version, signature, values = orjson.loads(raw)
        except (ValueError, TypeError, binascii.Error, orjson.JSONDecodeError):
            raise bad from None
        if version != CURSOR_VERSION or signature != self.signature:
            raise bad
        if not isinstance(values, list) or len(values) != len(self.keys):
            raise bad
        try:
            return tuple(_load(key, value) for key, value in zip(self.keys, values, strict=True))
        except (ValueError, TypeError):
            raise bad from None

    def seek(self, values: Sequence[Any], backward: bool) -> ColumnElement[bool]:
        """Rows strictly after the cursor's row in the walk's direction."""
        directions = {k.descending != backward for k in self.keys}
        if len(directions) == 1 and not any(k.nullable for k in self.keys):
            # One direction, no NULLs: a row-value comparison, which PostgreSQL bounds by index.
            row = tuple_(*(k.expression for k in self.keys))
            bound = tuple_(*values)
            return row < bound if directions.pop() else row > bound
        return _expanded_seek(self.keys, values, backward)

    def at_or_before(self, values: Sequence[Any], backward: bool) -> ColumnElement[bool]:
        """The cursor's row and every row before it: what lies behind a walk from the cursor."""
        directions = {k.descending != backward for k in self.keys}
        if len(directions) == 1 and not any(k.nullable for k in self.keys):
            # Inclusive row-value comparison, bounded by the index like seek(); `… OR id = x`
            # is not, and made EXISTS walk the whole organization from the far end.
            row, bound = tuple_(*(k.expression for k in self.keys)), tuple_(*values)
            return row >= bound if directions.pop() else row <= bound
        behind = self.seek(values, not backward)
        return or_(behind, self.keys[-1].expression == values[-1])


def _expanded_seek(
    keys: Sequence[SortKey], values: Sequence[Any], backward: bool
) -> ColumnElement[bool]:
    """(k1 after v1) OR (k1 = v1 AND k2 after v2) OR …, with NULLs in their place."""
    terms = []
    for i, key in enumerate(keys):
        equal_before = [_equal(k, v) for k, v in zip(keys[:i], values[:i], strict=True)]
        terms.append(and_(*equal_before, _after(key, values[i], backward)))
    seek = or_(*terms)
    first, value = keys[0], values[0]
    if not first.nullable and value is not None:
        # Redundant with the OR above, but gives the planner a range on the leading key.
        expr = first.expression
        bound = expr <= value if first.descending != backward else expr >= value
        seek = and_(bound, seek)
    return seek


def _after(key: SortKey, value: Any, backward: bool) -> ColumnElement[bool]:
    nulls_first = backward
    if value is None:
        return key.expression.is_not(None) if nulls_first else false()
    descending = key.descending != backward
    beyond: ColumnElement[bool] = key.expression < value if descending else key.expression > value
    if key.nullable and not nulls_first:
        return or_(beyond, key.expression.is_(None))
    return beyond


def _equal(key: SortKey, value: Any) -> ColumnElement[bool]:
    return key.expression.is_(None) if value is None else key.expression == value


def _load(key: SortKey, value: Any) -> Any:
    if value is None:
        if not key.nullable:
            raise ValueError("null in a non-null key")
        return None
    if key.type is KeyType.DATETIME:
        parsed = datetime.fromisoformat(value)
        if parsed.tzinfo is None:
            raise ValueError("naive datetime")
        return parsed
    if key.type is KeyType.INT and (type(value) is not int or abs(value) >= 2**63):
        raise ValueError("not an int")
    if key.type is KeyType.STR and not isinstance(value, str):
        raise ValueError("not a string")
    return value


@dataclass(frozen=True, slots=True)
class Window:
    """Validated Relay arguments: how many rows, from which cursors, in which direction."""

    limit: int
    backward: bool
    after: tuple[Any, ...] | None
    before: tuple[Any, ...] | None


@dataclass(frozen=True, slots=True)
class PageSize:
    default: int
    maximum: int


def window(
    ordering: Ordering,
    size: PageSize,
    *,
    first: int | None,
    after: str | None,
    last: int | None,
    before: str | None,
) -> Window:
    if first is not None and last is not None:
        raise BadUserInput("Give `first` or `last`, not both", argument="last")
    for name, value in (("first", first), ("last", last)):
        if value is not None and not 1 <= value <= size.maximum:
            raise BadUserInput(
                f"`{name}` must be between 1 and {size.maximum}, got {value}", argument=name
            )
    return Window(
        limit=first or last or size.default,
        backward=last is not None,
        after=ordering.decode(after, "after") if after is not None else None,
        before=ordering.decode(before, "before") if before is not None else None,
    )
