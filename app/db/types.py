"""Column types that behave the same on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, DateTime, Dialect, String, Text, TypeDecorator
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.types import UserDefinedType


class Xid8(UserDefinedType[int]):
    """PostgreSQL's 64-bit transaction id; asyncpg reads and writes it as an int."""

    cache_ok = True

    def get_col_spec(self, **_: Any) -> str:
        return "xid8"


# A transaction id: xid8 on PostgreSQL, a plain integer (always 0) on SQLite.
XidType = BigInteger().with_variant(Xid8(), "postgresql")

# JSON documents: JSONB on PostgreSQL (indexable, compact), JSON text on SQLite.
Json = JSON().with_variant(JSONB(), "postgresql")


def code_point_text(length: int | None = None) -> Any:
    """Text that sorts by code point on both databases (SQLite's BINARY; PostgreSQL's "C")."""
    base = String(length) if length else Text()
    collated = String(length, collation="C") if length else Text(collation="C")
    return base.with_variant(collated, "postgresql")


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC in Python; timestamptz on PostgreSQL, naive UTC text on SQLite.

    SQLite keeps the fixed-width text SQLAlchemy writes, so string order is time order.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
