"""Custom scalars and their wire formats."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import strawberry
from strawberry.scalars import JSON


def _serialize_datetime(value: datetime) -> str:
    return value.astimezone(UTC).isoformat()


def parse_datetime(value: Any) -> datetime:
    """Strict ISO-8601; a time without offset is taken as UTC."""
    if not isinstance(value, str):
        raise ValueError("DateTime must be an ISO-8601 string")
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise ValueError(f"{value!r} is not an ISO-8601 date-time") from None
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


SCALARS: dict[object, Any] = {
    datetime: strawberry.scalar(
        name="DateTime",
        description=(
            "An instant as an ISO-8601 string. Output is always UTC with an explicit offset "
            '("2026-11-23T21:52:00.123456+00:00"); input without an offset is read as UTC.'
        ),
        serialize=_serialize_datetime,
        parse_value=parse_datetime,
    ),
    JSON: strawberry.scalar(
        name="JSON",
        description="Any JSON value (object, array, string, number, boolean or null), as is.",
        serialize=lambda v: v,
        parse_value=lambda v: v,
    ),
}

__all__ = ["JSON", "SCALARS", "parse_datetime"]
