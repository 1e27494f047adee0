"""Checks a raw filter value against a field's type: strings, int32, enums, strict times."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta, timezone

from app.tql.ast import RelativeTime, Scalar
from app.tql.fields import FieldSpec, FieldType

INT32_MIN, INT32_MAX = -(2**31), 2**31 - 1
# Relative offsets stay well inside datetime's years 1..9999 whatever `now` is.
MAX_RELATIVE = timedelta(days=366 * 1000)

_ISO = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})"
    r"(?:[Tt ](\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,6}))?)?([Zz]|[+-]\d{2}:\d{2})?)?"
)
_RELATIVE = re.compile(r"now\s*(?:([+-])\s*(\d{1,9})\s*([a-z]+))?", re.IGNORECASE)
_UNITS = {
    "s": "seconds",
    "second": "seconds",
    "seconds": "seconds",
    "m": "minutes",
    "minute": "minutes",
    "minutes": "minutes",
    "h": "hours",
    "hour": "hours",
    "hours": "hours",
    "d": "days",
    "day": "days",
    "days": "days",
    "w": "weeks",
    "week": "weeks",
    "weeks": "weeks",
}
_SURROGATE = re.compile("[\ud800-\udfff]")


class InvalidValue(ValueError):
    """A value that does not fit its field; callers add where it was."""


RawScalar = str | int | bool | datetime


def check_text(text: str) -> str:
    """Reject what neither database stores the same way: NUL bytes and lone surrogates."""
    if "\x00" in text:
        raise InvalidValue("text must not contain NUL characters (\\u0000)")
    if _SURROGATE.search(text):
        raise InvalidValue("text must not contain lone UTF-16 surrogates")
    return text


def check_int(value: int) -> int:
    if not INT32_MIN <= value <= INT32_MAX:
        raise InvalidValue(f"integer {value} is out of range ({INT32_MIN}..{INT32_MAX})")
    return value


def parse_time(text: str) -> datetime | RelativeTime:
    """ISO-8601 (naive means UTC) or `now [+|- N unit]`; anything else is an error."""
    stripped = text.strip()
    relative = _RELATIVE.fullmatch(stripped)
    if relative:
        return _relative(relative)
    iso = _ISO.fullmatch(stripped)
    if iso is None:
        raise InvalidValue(
            f"expected an ISO-8601 time such as 2024-05-01T12:00:00Z or a relative time such "
            f"as now - 7 days, found {_quote(text)}"
        )
    return _absolute(iso, text)


def _relative(match: re.Match[str]) -> RelativeTime:
    sign, amount, unit = match.groups()
    if sign is None:
        return RelativeTime()
    name = _UNITS.get(unit.lower())
    if name is None:
        raise InvalidValue(
            f"unknown time unit {unit!r}; expected one of s, m, h, d, w, second(s), minute(s), "
            f"hour(s), day(s), week(s)"
        )
    offset = timedelta(**{name: int(amount)})
    if offset > MAX_RELATIVE:
        raise InvalidValue("relative time is more than 1000 years away from now")
    return RelativeTime(-offset if sign == "-" else offset)


def _absolute(match: re.Match[str], text: str) -> datetime:
    year, month, day, hour, minute, second, fraction, zone = match.groups()
    micro = int((fraction or "0").ljust(6, "0"))
    try:
        tz = _zone(zone)
        date = (int(year), int(month), int(day))
        clock = (int(hour or 0), int(minute or 0), int(second or 0), micro)
        return datetime(*date, *clock, tzinfo=tz).astimezone(UTC)
    except (ValueError, OverflowError):
        raise InvalidValue(f"{_quote(text)} is not a valid date and time") from None


def _zone(zone: str | None) -> timezone:
    if zone is None or zone in "Zz":
        return UTC
    sign = -1 if zone[0] == "-" else 1
    hours, minutes = int(zone[1:3]), int(zone[4:6])
    if minutes > 59:
        raise ValueError("bad offset")
    return timezone(sign * timedelta(hours=hours, minutes=minutes))


def coerce(spec: FieldSpec, raw: RawScalar) -> Scalar:
    """The value a field compares with, or InvalidValue saying what was expected."""
    kind = spec.type
    if kind is FieldType.STRING and isinstance(raw, str):
        return check_text(raw)
    if kind is FieldType.ID and isinstance(raw, str | int) and not isinstance(raw, bool):
        return check_text(str(raw))
    if kind is FieldType.ENUM and isinstance(raw, str):
        return _enum(spec, raw)
    if kind is FieldType.INT and isinstance(raw, int) and not isinstance(raw, bool):
        return check_int(raw)
    if kind is FieldType.BOOLEAN and isinstance(raw, bool):
        return raw
    if kind is FieldType.DATETIME and isinstance(raw, datetime):
        return raw.replace(tzinfo=UTC) if raw.tzinfo is None else raw.astimezone(UTC)
    if kind is FieldType.DATETIME and isinstance(raw, str):
        return parse_time(check_text(raw))
    raise InvalidValue(f"{spec.name} takes {_expected(spec)}, found {describe(raw)}")


def _enum(spec: FieldSpec, raw: str) -> str:
    """The canonical value; Cortex's spellings (InProgress for IN_PROGRESS) match too."""
    folded = check_text(raw).upper()
    if folded in spec.enum_values:
        return folded
    squeezed = folded.replace("_", "")
    for value in spec.enum_values:
        if value.replace("_", "") == squeezed:
            return value
    raise InvalidValue(
        f"{spec.name} takes one of {', '.join(spec.enum_values)} (any case), found {_quote(raw)}"
    )


def _expected(spec: FieldSpec) -> str:
    return {
        FieldType.STRING: "a string",
        FieldType.ID: "an id (a string)",
        FieldType.ENUM: f"one of {', '.join(spec.enum_values)} as a string",
        FieldType.INT: "an integer",
        FieldType.BOOLEAN: "true or false",
        FieldType.DATETIME: "a time as a string (ISO-8601 or relative, such as now - 7 days)",
    }[spec.type]


def describe(raw: RawScalar) -> str:
    if isinstance(raw, bool):
        return f"boolean {str(raw).lower()}"
    if isinstance(raw, int):
        return f"integer {raw}"
    if isinstance(raw, datetime):
        return f"time {raw.isoformat()}"
    return f"string {_quote(raw)}"


def _quote(text: str, limit: int = 40) -> str:
    """User text echoed in a message, shortened so a message stays readable."""
    shown = text if len(text) <= limit else text[:limit] + "…"
    return '"' + shown.replace("\\", "\\\\").replace('"', '\\"') + '"'
