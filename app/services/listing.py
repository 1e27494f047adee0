"""Pages of any listing over one mechanism: keyset windows, optionally one page per parent."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import ColumnElement, Select, and_, func, select, true
from sqlalchemy.ext.asyncio import AsyncConnection

from app.pagination import Ordering, Window


@dataclass(frozen=True, slots=True)
class PageRows:
    rows: list[Any]
    has_more: bool  # rows remain beyond the page in the walk's direction


@dataclass(frozen=True)
class Listing:
    """What to list: the rows `where` selects, in `ordering`, cut to `window`.

    With `group`, one statement returns a page per group value (e.g. per analyzer), so a
    nested connection under a list costs one statement, not one per parent.
    """

    columns: Sequence[Any]
    where: ColumnElement[bool]
    ordering: Ordering
    window: Window
    group: ColumnElement[Any] | None = field(default=None)

    @property
    def source(self) -> Any:
        """The table listed (for counts and probes, which select no columns of it)."""
        return self.columns[0].table

    def _bounded(self) -> ColumnElement[bool]:
        bounds = [self.where]
        if self.window.after is not None:
            bounds.append(self.ordering.seek(self.window.after, backward=False))
        if self.window.before is not None:
            bounds.append(self.ordering.seek(self.window.before, backward=True))
        return and_(*bounds)

    def _in_groups(self, groups: Sequence[Any] | None) -> ColumnElement[bool]:
        return self.group.in_(groups) if self.group is not None and groups else true()


def page_query(listing: Listing, base: Select[Any] | None = None) -> Select[Any]:
    """One page and the row past it (which says whether more follow), in the walk's order;
    selected by `base` (columns of the listed table, or of a join of it) if given."""
    base = select(*listing.columns) if base is None else base
    query = base.where(listing._bounded())
    order = listing.ordering.order_by(listing.window.backward)
    return query.order_by(*order).limit(listing.window.limit + 1)


async def fetch_pages(
    conn: AsyncConnection, listing: Listing, groups: Sequence[Any] | None = None
) -> dict[Any, PageRows]:
    """The page of each group (key None without groups), rows in the listing's order."""
    if listing.group is None:
        return {None: cut((await conn.execute(page_query(listing))).all(), listing.window)}
    limit = listing.window.limit
    order = listing.ordering.order_by(listing.window.backward)
    where = and_(listing._bounded(), listing._in_groups(groups))
    rank = func.row_number().over(partition_by=listing.group, order_by=order).label("_rank")
    ranked = select(*listing.columns, listing.group.label("_group"), rank).where(where).subquery()
    query = select(ranked).where(ranked.c._rank <= limit + 1).order_by(ranked.c._rank)
    by_group: dict[Any, list[Any]] = {g: [] for g in groups or ()}
    for row in (await conn.execute(query)).all():
        by_group.setdefault(row._group, []).append(row)
    return {g: cut(rows, listing.window) for g, rows in by_group.items()}


def cut(rows: Sequence[Any], window: Window) -> PageRows:
    """The page of rows fetched by page_query, in the listing's order."""
    page = list(rows[: window.limit])
    if window.backward:
        page.reverse()
    return PageRows(rows=page, has_more=len(rows) > window.limit)


def count_query(listing: Listing) -> Select[Any]:
    """How many rows `where` selects, cursors aside: the connection's totalCount."""
    return select(func.count()).select_from(listing.source).where(listing.where)


async def count(
    conn: AsyncConnection, listing: Listing, groups: Sequence[Any] | None = None
) -> dict[Any, int]:
    if listing.group is None:
        return {None: int(await conn.scalar(count_query(listing)) or 0)}
    query = (
        select(listing.group, func.count())
        .select_from(listing.source)
        .where(and_(listing.where, listing._in_groups(groups)))
        .group_by(listing.group)
    )
    counts = {g: 0 for g in groups or ()}
    counts.update({g: int(n) for g, n in (await conn.execute(query)).all()})
    return counts


def _behind(listing: Listing) -> ColumnElement[bool] | None:
    """The walk's starting cursor row and all before it; None when the walk has no start."""
    window = listing.window
    start = window.before if window.backward else window.after
    if start is None:
        return None
    return listing.ordering.at_or_before(start, backward=window.backward)


def behind_query(listing: Listing) -> Select[Any] | None:
    """Whether rows lie behind the walk's starting cursor (the other direction's pageInfo);
    None when there is no cursor, hence nothing behind."""
    behind = _behind(listing)
    if behind is None:
        return None
    rows = select(true()).select_from(listing.source).where(listing.where, behind)
    return select(rows.exists())


async def exists_behind(
    conn: AsyncConnection, listing: Listing, groups: Sequence[Any] | None = None
) -> dict[Any, bool]:
    behind = _behind(listing)
    if behind is None:
        return {g: False for g in groups or (None,)}
    if listing.group is None:
        query = behind_query(listing)
        assert query is not None  # there is a cursor
        return {None: bool(await conn.scalar(query))}
    where = and_(listing.where, behind, listing._in_groups(groups))
    query = select(listing.group).select_from(listing.source).where(where).distinct()
    present = set((await conn.execute(query)).scalars())
    return {g: g in present for g in groups or ()}
