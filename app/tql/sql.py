"""SQL constructs whose spelling differs by dialect but whose meaning must not."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Boolean, Text
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.functions import FunctionElement


class ascii_lower(FunctionElement[str]):  # noqa: N801 - SQL function style, like func.lower
    """lower() folding ASCII letters only, whatever the column's collation.

    SQLite's lower() folds ASCII only; PostgreSQL's folds per collation, so it is pinned to "C".
    """

    type = Text()
    inherit_cache = True


@compiles(ascii_lower)
def _ascii_lower(element: ascii_lower, compiler: SQLCompiler, **kw: Any) -> str:
    return f"lower({compiler.process(element.clauses, **kw)})"


@compiles(ascii_lower, "postgresql")
def _ascii_lower_pg(element: ascii_lower, compiler: SQLCompiler, **kw: Any) -> str:
    return f'lower(({compiler.process(element.clauses, **kw)}) COLLATE "C")'


class json_list_contains(FunctionElement[bool]):  # noqa: N801
    """Whether a JSON array (column) holds a string (value) as one of its elements.

    Element equality, never text search: json_each on SQLite, jsonb's `?` on PostgreSQL; both
    only match string elements, exactly.
    """

    type = Boolean()
    inherit_cache = True


@compiles(json_list_contains)
def _contains_sqlite(element: json_list_contains, compiler: SQLCompiler, **kw: Any) -> str:
    column, value = (compiler.process(c, **kw) for c in element.clauses)
    return f"EXISTS (SELECT 1 FROM json_each({column}) WHERE json_each.value = {value})"


@compiles(json_list_contains, "postgresql")
def _contains_pg(element: json_list_contains, compiler: SQLCompiler, **kw: Any) -> str:
    column, value = (compiler.process(c, **kw) for c in element.clauses)
    return f"({column} ? {value})"
