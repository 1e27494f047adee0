"""Reading analyzers, always within one organization."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import ColumnElement, and_, select, true

from app.db.engine import Database
from app.db.lists import any_of
from app.db.models import analyzers
from app.pagination import KeyType, Ordering, SortKey, Window
from app.services.listing import Listing

ANALYZER_COLUMNS = tuple(analyzers.c)
# Analyzers list by name, as the Cortex UI shows them; the id breaks ties.
ANALYZER_ORDERING = Ordering(
    (
        SortKey("NAME", analyzers.c.name, KeyType.STR, False, False, lambda r: r.name),
        SortKey("ID", analyzers.c.id, KeyType.STR, False, False, lambda r: r.id),
    )
)


def analyzer_listing(
    organization: str, predicate: ColumnElement[bool] | None, window: Window
) -> Listing:
    where = and_(
        analyzers.c.organization_id == organization,
        predicate if predicate is not None else true(),
    )
    return Listing(ANALYZER_COLUMNS, where, ANALYZER_ORDERING, window)


async def analyzers_by_id(db: Database, organization: str, ids: Sequence[str]) -> dict[str, Any]:
    query = select(*ANALYZER_COLUMNS).where(
        analyzers.c.organization_id == organization, any_of(db.dialect, analyzers.c.id, ids)
    )
    async with db.read() as conn:
        return {row.id: row for row in await conn.execute(query)}
