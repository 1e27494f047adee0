"""`column IN (values)` for batch loads, as one array parameter on PostgreSQL."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import BindParameter, ColumnElement, any_, bindparam
from sqlalchemy.dialects.postgresql import ARRAY


def any_of(
    dialect: str, column: ColumnElement[Any], values: Sequence[Any] | BindParameter[Any]
) -> ColumnElement[bool]:
    """Rows whose `column` is one of `values` (or of the values given to `values_parameter`).

    On PostgreSQL, `column = ANY($1)` with the values as one array: the statement is the same
    whatever their number (one prepared statement, no per-value parameter to render and
    bind, which costs SQLAlchemy ~10 µs each). SQLite has no arrays: `IN (…)` there.
    """
    if dialect != "postgresql":
        return column.in_(values)
    if isinstance(values, BindParameter):
        return column == any_(values)
    return column == any_(bindparam(None, list(values), type_=ARRAY(column.type)))


def values_parameter(dialect: str, column: ColumnElement[Any], name: str) -> BindParameter[Any]:
    """A named parameter for any_of, for a statement built once and run with many lists."""
    if dialect != "postgresql":
        return bindparam(name, expanding=True)
    return bindparam(name, type_=ARRAY(column.type))
