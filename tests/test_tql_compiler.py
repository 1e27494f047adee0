"""Predicate tree to SQL, compiled for SQLite and PostgreSQL without a database."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Dialect

from app.db.models import analyzers, jobs
from app.tql import (
    ANALYZER_FIELDS,
    FALSE,
    JOB_FIELDS,
    TRUE,
    And,
    Condition,
    FieldRegistry,
    Match,
    Not,
    Op,
    Or,
    Predicate,
    RelativeTime,
    TimeRange,
    TqlLimits,
    compile_predicate,
    parse_tql,
)

NOW = datetime(2026, 1, 15, 12, 0, tzinfo=UTC)
DIALECTS = {"sqlite": sqlite.dialect(), "postgresql": postgresql.asyncpg.dialect()}


def sql(tree: Predicate, dialect: Dialect, registry: FieldRegistry = JOB_FIELDS) -> tuple[str, Any]:
    table = jobs if registry is JOB_FIELDS else analyzers
    query = select(table.c.id).where(compile_predicate(tree, registry, NOW))
    compiled = query.compile(dialect=dialect)
    where = str(compiled).split("WHERE", 1)[1]
    return " ".join(where.split()), compiled.params


@pytest.fixture(params=sorted(DIALECTS))
def dialect(request: pytest.FixtureRequest) -> Dialect:
    return DIALECTS[request.param]


HOSTILE = "x'); DROP TABLE job; --\"%_\\"
QUOTED = '"' + HOSTILE.replace("\\", "\\\\").replace('"', '\\"') + '"'


@pytest.mark.parametrize(
    "text",
    [
        f"data = {QUOTED}",
        f"data != {QUOTED}",
        f"data in ({QUOTED}, 'b')",
        f"data not contains {QUOTED}",
        f"analyzerName startswith {QUOTED}",
        f"message endswith {QUOTED}",
        f"attachmentSha256 = {QUOTED}",
        f"not attachmentSha256 contains {QUOTED}",
        f"id in ({QUOTED})",
    ],
)
def test_user_text_is_only_ever_a_bound_parameter(text: str, dialect: Dialect) -> None:
    tree = parse_tql(text, JOB_FIELDS, TqlLimits())
    assert tree is not None
    where, params = sql(tree, dialect)
    assert "drop" not in where.lower() and "x'" not in where
    assert any("drop table" in str(value).lower() for value in params.values())


def test_analyzer_data_type_text_is_bound(dialect: Dialect) -> None:
    tree = Condition("dataType", Op.IN, (HOSTILE, "ip"))
    where, params = sql(tree, dialect, ANALYZER_FIELDS)
    assert "DROP" not in where and HOSTILE in params.values()


def test_equality_is_exact_and_like_is_ascii_folded() -> None:
    tree = And((Condition("data", Op.EQ, "Ab"), Condition("data", Op.CONTAINS, "Ab%_\\É")))
    lite, params = sql(tree, DIALECTS["sqlite"])
    assert lite == "job.data = ? AND lower(job.data) LIKE ? ESCAPE '\\'"
    # Wildcards and the escape character are escaped; only ASCII letters are folded.
    assert list(params.values()) == ["Ab", "%ab\\%\\_\\\\É%"]
    pg, _ = sql(tree, DIALECTS["postgresql"])
    assert pg == (
        'job.data = $1::VARCHAR COLLATE "C" AND lower((job.data) COLLATE "C") '
        "LIKE $2::VARCHAR ESCAPE '\\'"
    )


@pytest.mark.parametrize(
    ("op", "pattern"),
    [(Op.STARTSWITH, "ab%"), (Op.ENDSWITH, "%ab"), (Op.CONTAINS, "%ab%")],
)
def test_like_patterns(op: Op, pattern: str) -> None:
    _, params = sql(Condition("message", op, "AB"), DIALECTS["sqlite"])
    assert list(params.values()) == [pattern]


def test_negations_stay_sql_negations(dialect: Dialect) -> None:
    """Nothing is rewritten into a form that would match NULLs (no `OR ... IS NULL`)."""
    for tree in [
        Condition("data", Op.NEQ, "a"),
        Condition("data", Op.NOT_IN, ("a", "b")),
        Condition("data", Op.NOT_CONTAINS, "a"),
        Not(Condition("updatedBy", Op.EQ, "a")),
        Not(Or((Condition("data", Op.EQ, "a"), Condition("endDate", Op.GT, NOW)))),
    ]:
        where, _ = sql(tree, dialect)
        assert "IS NULL" not in where and "coalesce" not in where.lower()
        assert "NOT" in where or "!=" in where


def test_relative_times_resolve_against_now(dialect: Dialect) -> None:
    tree = Condition("createdAt", Op.BETWEEN, (RelativeTime(timedelta(days=-7)), RelativeTime()))
    where, params = sql(tree, dialect)
    assert "BETWEEN" in where
    assert list(params.values()) == [NOW - timedelta(days=7), NOW]


def test_time_range_any_and_all(dialect: Dialect) -> None:
    start = datetime(2026, 1, 1, tzinfo=UTC)
    fields = ("createdAt", "endDate")
    any_, params = sql(TimeRange(start, RelativeTime(), fields, Match.ANY), dialect)
    assert any_.count(">=") == 2 and any_.count("<=") == 2 and " OR " in any_
    assert list(params.values()) == [start, NOW, start, NOW]
    all_, _ = sql(TimeRange(None, start, fields, Match.ALL), dialect)
    assert " OR " not in all_ and all_.count("<=") == 2 and ">=" not in all_


def test_attachment_sha256_uses_a_semi_join_outside_not(dialect: Dialect) -> None:
    where, _ = sql(Condition("attachmentSha256", Op.EQ, "ab"), dialect)
    assert where.startswith("job.attachment_id IN (SELECT attachment.id FROM attachment WHERE")


def test_attachment_sha256_under_not_reads_a_real_null(dialect: Dialect) -> None:
    where, _ = sql(Not(Condition("attachmentSha256", Op.EQ, "ab")), dialect)
    assert "(SELECT attachment.sha256 FROM attachment WHERE attachment.id = job.attachment_id)" in (
        where
    )
    where, _ = sql(Not(Condition("attachmentSha256", Op.IS_NULL)), dialect)
    assert where == "job.attachment_id IS NOT NULL"


def test_analyzer_data_type_is_element_membership() -> None:
    tree = Condition("dataType", Op.NOT_IN, ("ip", "domain"))
    lite, _ = sql(tree, DIALECTS["sqlite"], ANALYZER_FIELDS)
    assert "json_each(analyzer.data_types) WHERE json_each.value = ?" in lite
    assert "LIKE" not in lite
    pg, _ = sql(tree, DIALECTS["postgresql"], ANALYZER_FIELDS)
    assert pg == "NOT ((analyzer.data_types ? $1::VARCHAR) OR (analyzer.data_types ? $2::VARCHAR))"


def test_empty_and_or(dialect: Dialect) -> None:
    assert sql(TRUE, dialect)[0] in ("1 = 1", "true")
    assert sql(FALSE, dialect)[0] in ("0 = 1", "false")


def test_enum_values_are_stored_upper_case(dialect: Dialect) -> None:
    tree = parse_tql("status = 'in_progress'", JOB_FIELDS, TqlLimits())
    assert tree is not None
    _, params = sql(tree, dialect)
    assert list(params.values()) == ["IN_PROGRESS"]
