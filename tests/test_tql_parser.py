"""TQL text to predicate tree: grammar, values, limits and the errors' positions."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from app.errors import BadUserInput
from app.tql import (
    ANALYZER_FIELDS,
    JOB_FIELDS,
    And,
    Condition,
    Not,
    Op,
    Or,
    Predicate,
    RelativeTime,
    TqlLimits,
    parse_tql,
)

LIMITS = TqlLimits()


def parse(text: str, limits: TqlLimits = LIMITS) -> Predicate | None:
    return parse_tql(text, JOB_FIELDS, limits)


def fails(text: str, limits: TqlLimits = LIMITS) -> BadUserInput:
    with pytest.raises(BadUserInput) as caught:
        parse(text, limits)
    error = caught.value
    assert error.code == "BAD_USER_INPUT" and error.argument == "tql"
    return error


def test_design_examples() -> None:
    assert parse(
        'status in ("Success","Failure") and dataType = "ip" and createdAt > "now - 7 days"'
    ) == And(
        (
            Condition("status", Op.IN, ("SUCCESS", "FAILURE")),
            Condition("dataType", Op.EQ, "ip"),
            Condition("createdAt", Op.GT, RelativeTime(timedelta(days=-7))),
        )
    )
    assert parse(
        'analyzerName startswith "Abuse" or (tlp >= 2 and not data contains "google")'
    ) == Or(
        (
            Condition("analyzerName", Op.STARTSWITH, "Abuse"),
            And((Condition("tlp", Op.GTE, 2), Not(Condition("data", Op.CONTAINS, "google")))),
        )
    )


def test_precedence_not_then_and_then_or() -> None:
    a, b, c = (Condition("tlp", Op.EQ, n) for n in (1, 2, 3))
    assert parse("tlp = 1 or tlp = 2 and tlp = 3") == Or((a, And((b, c))))
    assert parse("(tlp = 1 or tlp = 2) and tlp = 3") == And((Or((a, b)), c))
    assert parse("not tlp = 1 and tlp = 2") == And((Not(a), b))
    assert parse("not not (tlp = 1)") == Not(Not(a))


def test_keywords_fields_and_enum_values_ignore_case() -> None:
    expected = Condition("analyzerName", Op.NOT_IN, ("A",))
    assert parse('ANALYZERNAME Not In ("A")') == expected
    assert parse('analyzername not in ("A")') == expected
    for spelling in ("Success", "SUCCESS", "success", "sUcCeSs"):
        assert parse(f"status = '{spelling}'") == Condition("status", Op.EQ, "SUCCESS")


@pytest.mark.parametrize(
    ("text", "op", "value"),
    [
        ('data = "x"', Op.EQ, "x"),
        ('data != "x"', Op.NEQ, "x"),
        ('data contains "x"', Op.CONTAINS, "x"),
        ('data not contains "x"', Op.NOT_CONTAINS, "x"),
        ('data startswith "x"', Op.STARTSWITH, "x"),
        ('data NOT STARTSWITH "x"', Op.NOT_STARTSWITH, "x"),
        ('data endswith "x"', Op.ENDSWITH, "x"),
        ('data not endswith "x"', Op.NOT_ENDSWITH, "x"),
        ("data is null", Op.IS_NULL, None),
        ("data IS NOT NULL", Op.IS_NOT_NULL, None),
        ("data in ('a', \"b\")", Op.IN, ("a", "b")),
    ],
)
def test_string_operators(text: str, op: Op, value: object) -> None:
    assert parse(text) == Condition("data", op, value)


@pytest.mark.parametrize(
    ("text", "op", "value"),
    [
        ("tlp < 2", Op.LT, 2),
        ("tlp <= 2", Op.LTE, 2),
        ("tlp > -2", Op.GT, -2),
        ("tlp>=2", Op.GTE, 2),
        ("tlp between 1 and 3", Op.BETWEEN, (1, 3)),
        ("tlp = 2147483647", Op.EQ, 2147483647),
        ("tlp = -2147483648", Op.EQ, -2147483648),
    ],
)
def test_int_operators(text: str, op: Op, value: object) -> None:
    assert parse(text) == Condition("tlp", op, value)


def test_strings_and_escapes() -> None:
    assert parse(r"""data = 'it\'s "x" \\ \n\t\r \u00e9\ud83d\ude00'""") == Condition(
        "data", Op.EQ, 'it\'s "x" \\ \n\t\r é😀'
    )
    assert parse('data = "a\'b"') == Condition("data", Op.EQ, "a'b")
    assert parse('data = ""') == Condition("data", Op.EQ, "")


@pytest.mark.parametrize(
    ("text", "offset"),
    [
        ("now", timedelta(0)),
        ("NOW", timedelta(0)),
        ("now - 1 week", timedelta(weeks=-1)),
        ("now-36h", timedelta(hours=-36)),
        ("now + 2d", timedelta(days=2)),
        ("now - 7 days", timedelta(days=-7)),
        ("now - 1 second", timedelta(seconds=-1)),
        ("now-90s", timedelta(seconds=-90)),
        ("now - 5 minutes", timedelta(minutes=-5)),
        ("now - 5m", timedelta(minutes=-5)),
        ("now - 3 Hours", timedelta(hours=-3)),
        ("now - 2 w", timedelta(weeks=-2)),
    ],
)
def test_relative_times(text: str, offset: timedelta) -> None:
    assert parse(f'createdAt > "{text}"') == Condition("createdAt", Op.GT, RelativeTime(offset))


@pytest.mark.parametrize(
    ("text", "moment"),
    [
        ("2024-05-01", datetime(2024, 5, 1, tzinfo=UTC)),
        ("2024-05-01T12:30", datetime(2024, 5, 1, 12, 30, tzinfo=UTC)),
        ("2024-05-01 12:30:15", datetime(2024, 5, 1, 12, 30, 15, tzinfo=UTC)),
        ("2024-05-01T12:30:15.25Z", datetime(2024, 5, 1, 12, 30, 15, 250000, tzinfo=UTC)),
        ("2024-05-01T12:30:15+02:00", datetime(2024, 5, 1, 10, 30, 15, tzinfo=UTC)),
        ("2024-02-29T00:00:00-01:30", datetime(2024, 2, 29, 1, 30, tzinfo=UTC)),
    ],
)
def test_iso_times_naive_means_utc(text: str, moment: datetime) -> None:
    assert parse(f'createdAt = "{text}"') == Condition("createdAt", Op.EQ, moment)


@pytest.mark.parametrize(
    "text",
    [
        "2023-02-29",
        "2024-02-30",
        "0000-01-01",
        "2024-13-01",
        "2024-01-01T24:00",
        "2024-01-01T10:60",
        "infinity",
        "-infinity",
        "yesterday",
        "now - 1 fortnight",
        "now - 1.5 days",
        "now - 9999999 weeks",
        "2024-01-01T10:00+25:00",
        "0001-01-01T00:00+01:00",
        "20240101",
        "",
    ],
)
def test_bad_times(text: str) -> None:
    error = fails(f'createdAt > "{text}"')
    assert error.extensions["tql"]["offset"] == len("createdAt > ")


def test_blank_means_no_condition() -> None:
    assert parse("") is None
    assert parse(" \n\t ") is None


def test_analyzer_fields() -> None:
    assert parse_tql('dataType = "ip" and enabled = TRUE', ANALYZER_FIELDS, LIMITS) == And(
        (Condition("dataType", Op.EQ, "ip"), Condition("enabled", Op.EQ, True))
    )
    assert parse_tql("jobCacheMinutes is null", ANALYZER_FIELDS, LIMITS) == Condition(
        "jobCacheMinutes", Op.IS_NULL
    )


def position(error: BadUserInput) -> tuple[int, int, int]:
    where = error.extensions["tql"]
    return where["offset"], where["line"], where["column"]


@pytest.mark.parametrize(
    ("text", "where", "expected", "found"),
    [
        ("tlp =", (5, 1, 6), "expected a value", "found end of input"),
        ("tlp 2", (4, 1, 5), "expected an operator after tlp", "found integer 2"),
        ("(tlp = 2", (8, 1, 9), 'expected ")"', "found end of input"),
        ("tlp = 2)", (7, 1, 8), "expected AND, OR or the end", 'found ")" without'),
        ("tlp = 2 tlp = 3", (8, 1, 9), "expected AND, OR", "found word tlp"),
        ("status = success", (9, 1, 10), "expected a value", 'quote text: "success"'),
        ('status = "done"', (9, 1, 10), "status takes one of WAITING", '"done"'),
        ('tlp = "2"', (6, 1, 7), "tlp takes an integer", 'string "2"'),
        ("data = 5", (7, 1, 8), "data takes a string", "integer 5"),
        ("tlp = 2147483648", (6, 1, 7), "out of range", ""),
        ("tlp = 99999999999999999999999", (6, 1, 7), "out of range", ""),
        ("tlp = 1.5", (6, 1, 7), "expected an integer", "decimals"),
        ('status contains "x"', (7, 1, 8), "an operator that status supports", "CONTAINS"),
        ('createdAt in ("now")', (10, 1, 11), "createdAt supports", "found IN"),
        ("data is 5", (8, 1, 9), "expected NULL", "integer 5"),
        ('data not = "x"', (9, 1, 10), "IN, CONTAINS, STARTSWITH or ENDSWITH", '"="'),
        ("tlp between 1 or 3", (14, 1, 15), "expected AND", "word or"),
        ("tlp in 1", (7, 1, 8), 'expected "(" opening', "integer 1"),
        ("tlp in (1 2)", (10, 1, 11), 'expected "," or ")"', "integer 2"),
        ("tlp = 1 and\n  @", (14, 2, 3), "expected a field", "character '@'"),
        ("tlp = 1 and\n\n 'x' = 1", (14, 3, 2), "expected a field name", "string 'x'"),
        ('data = "abc', (7, 1, 8), 'expected a closing "', ""),
        (r'data = "a\x"', (9, 1, 10), "expected an escape", r"'\\x'"),
        (r'data = "\u0000"', (8, 1, 9), "NUL", ""),
        (r'data = "\ud800x"', (8, 1, 9), "surrogate", ""),
        ('data = "a\x00"', (9, 1, 10), "found a NUL character", ""),
        ('data = "a\ud800"', (9, 1, 10), "found a lone UTF-16 surrogate", ""),
        ("and", (0, 1, 1), "expected a field name", "word and"),
    ],
)
def test_syntax_errors_say_what_where(
    text: str, where: tuple[int, int, int], expected: str, found: str
) -> None:
    error = fails(text)
    assert position(error) == where
    assert expected in error.message and found in error.message
    assert f"line {where[1]}, column {where[2]}" in error.message


def test_unknown_field_lists_the_valid_ones() -> None:
    error = fails('tlp = 1 or colour = "red"')
    assert position(error) == (11, 1, 12)
    assert "colour" in error.message
    for name in JOB_FIELDS:
        assert name in error.message


def test_nesting_limit_is_checked_before_recursing() -> None:
    limits = TqlLimits(max_depth=32)
    assert parse("(" * 32 + "tlp = 1" + ")" * 32, limits) == Condition("tlp", Op.EQ, 1)
    assert parse("not " * 32 + "tlp = 1", limits) is not None
    error = fails("(" * 33 + "tlp = 1" + ")" * 33, limits)
    assert position(error) == (32, 1, 33) and "32 nested levels" in error.message
    assert position(fails("not (" * 16 + " not tlp = 1" + ")" * 16, limits))[0] > 0
    # Far beyond Python's recursion limit: still a clean BAD_USER_INPUT.
    deep = "(" * 100_000 + "tlp = 1" + ")" * 100_000
    assert "nested" in fails(deep, TqlLimits(max_length=300_000)).message


def test_term_limit() -> None:
    limits = TqlLimits(max_terms=3)
    assert parse("tlp = 1 or tlp = 2 or tlp = 3", limits) is not None
    error = fails("tlp = 1 or tlp = 2 or tlp = 3 or tlp = 4", limits)
    assert position(error)[0] == len("tlp = 1 or tlp = 2 or tlp = 3 or ")
    assert "at most 3 conditions" in error.message


def test_in_list_limit() -> None:
    limits = TqlLimits(max_in_values=3)
    assert parse("tlp in (1, 2, 3)", limits) is not None
    error = fails("tlp in (1, 2, 3, 4)", limits)
    assert position(error)[0] == len("tlp in (1, 2, 3, ")
    assert "at most 3 values" in error.message


def test_length_limit_is_checked_first() -> None:
    limits = TqlLimits(max_length=20)
    assert parse('data = "' + "x" * 11 + '"', limits) is not None
    error = fails('data = "' + "\x00" * 12 + '"', limits)
    assert "at most 20 characters, found 21" in error.message
    assert position(error) == (20, 1, 21)
