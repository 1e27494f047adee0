"""The predicate tree that both filter spellings (TQL text and typed inputs) produce."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime, timedelta


class Op(enum.Enum):
    """A comparison operator of a condition."""

    EQ = "="
    NEQ = "!="
    LT = "<"
    LTE = "<="
    GT = ">"
    GTE = ">="
    IN = "IN"
    NOT_IN = "NOT IN"
    CONTAINS = "CONTAINS"
    NOT_CONTAINS = "NOT CONTAINS"
    STARTSWITH = "STARTSWITH"
    NOT_STARTSWITH = "NOT STARTSWITH"
    ENDSWITH = "ENDSWITH"
    NOT_ENDSWITH = "NOT ENDSWITH"
    IS_NULL = "IS NULL"
    IS_NOT_NULL = "IS NOT NULL"
    BETWEEN = "BETWEEN"


class Match(enum.Enum):
    """How many of a time range's fields must lie in the range."""

    ANY = "ANY"
    ALL = "ALL"


@dataclass(frozen=True)
class RelativeTime:
    """`now` plus an offset; resolved by the compiler against the `now` it is given."""

    offset: timedelta = timedelta(0)


# A value after checking against the field registry: enum values are canonical (upper case),
# times are aware UTC datetimes or relative times.
Scalar = str | int | bool | datetime | RelativeTime
Value = Scalar | tuple[Scalar, ...] | None


@dataclass(frozen=True)
class Condition:
    """`field op value`; IN/NOT_IN/BETWEEN hold a tuple, IS_NULL/IS_NOT_NULL hold None."""

    field: str
    op: Op
    value: Value = None


@dataclass(frozen=True)
class TimeRange:
    """Argus' time search: ANY or ALL of `fields` lie in [start, end]; NULL is never in range."""

    start: datetime | RelativeTime | None
    end: datetime | RelativeTime | None
    fields: tuple[str, ...]
    match: Match = Match.ANY


@dataclass(frozen=True)
class Has:
    """A job with at least one related row (`relation`: taxonomy, artifact) for which `item`,
    a predicate over that row's fields, holds: one correlated EXISTS."""

    relation: str
    item: Predicate


@dataclass(frozen=True)
class And:
    """All items hold; no items means TRUE."""

    items: tuple[Predicate, ...]


@dataclass(frozen=True)
class Or:
    """At least one item holds; no items means FALSE."""

    items: tuple[Predicate, ...]


@dataclass(frozen=True)
class Not:
    """SQL's NOT: a NULL (unknown) item stays unknown, so it matches neither way."""

    item: Predicate


Predicate = And | Or | Not | Has | Condition | TimeRange

TRUE = And(())
FALSE = Or(())


def conjoin(items: list[Predicate]) -> Predicate:
    """AND of items, without wrapping a single item."""
    return items[0] if len(items) == 1 else And(tuple(items))
