"""UTC time buckets (hour, day, ISO week) computed alike on both databases."""

from __future__ import annotations

from typing import Any

from sqlalchemy import ColumnElement, String
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.functions import FunctionElement

BUCKETS = ("HOUR", "DAY", "WEEK")


class utc_bucket(FunctionElement[str]):  # noqa: N801 - SQL function style
    """The start of the UTC hour, day or ISO week (Monday) of a time, the same on both
    databases: ISO text on SQLite (where times are naive-UTC text), timestamptz on PostgreSQL."""

    type = String()
    inherit_cache = True

    def __init__(self, column: ColumnElement[Any], unit: str) -> None:
        assert unit in BUCKETS
        self.unit = unit
        super().__init__(column)


@compiles(utc_bucket)
def _bucket_sqlite(element: utc_bucket, compiler: SQLCompiler, **kw: Any) -> str:
    column = compiler.process(element.clauses, **kw)
    if element.unit == "HOUR":
        return f"(substr({column}, 1, 13) || ':00:00')"
    if element.unit == "DAY":
        return f"(substr({column}, 1, 10) || ' 00:00:00')"
    # 'weekday 0' moves to the coming Sunday (or stays on one); six days back is its Monday.
    return f"(date({column}, 'weekday 0', '-6 days') || ' 00:00:00')"


@compiles(utc_bucket, "postgresql")
def _bucket_pg(element: utc_bucket, compiler: SQLCompiler, **kw: Any) -> str:
    column = compiler.process(element.clauses, **kw)
    unit = element.unit.lower()
    return f"(date_trunc('{unit}', {column} AT TIME ZONE 'UTC') AT TIME ZONE 'UTC')"
