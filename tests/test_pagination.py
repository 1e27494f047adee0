"""Keyset pagination: walks in both directions equal a reference sort, on both databases."""

from __future__ import annotations

import base64
from datetime import datetime, timedelta, timezone
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from app.db.models import jobs
from app.services.jobs import STATUS_RANK, job_ordering
from tests.support import Env

FIELDS = {
    "CREATED_AT": "created_at",
    "UPDATED_AT": "updated_at",
    "START_DATE": "start_date",
    "END_DATE": "end_date",
    "STATUS": "status",
    "TLP": "tlp",
    "ANALYZER_NAME": "analyzer_name",
    "DATA_TYPE": "data_type",
}
PAGE = """
query($first: Int, $after: String, $last: Int, $before: String, $orderBy: [JobOrder!]) {
  jobs(first: $first, after: $after, last: $last, before: $before, orderBy: $orderBy) {
    edges { cursor node { id } }
    pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
  }
}
"""
orders = st.lists(
    st.tuples(st.sampled_from(sorted(FIELDS)), st.sampled_from(["ASC", "DESC"])),
    min_size=0,
    max_size=3,
    unique_by=lambda o: o[0],
)


async def reference(env: Env, organization: str, order: list[tuple[str, str]]) -> list[str]:
    """The visible jobs sorted in Python by the documented rules: NULLs last in both
    directions, strings by code point, STATUS in lifecycle order, id last."""
    async with env.app.state.db.read() as conn:
        rows = (
            await conn.execute(
                select(jobs).where(
                    jobs.c.organization_id == organization, jobs.c.status != "DELETED"
                )
            )
        ).all()
    keys = order or [("CREATED_AT", "DESC")]
    keys = [*keys, ("ID", keys[-1][1])]
    result = list(rows)
    for field, direction in reversed(keys):
        result.sort(
            key=lambda r, f=field: _sort_value(r, f, direction), reverse=direction == "DESC"
        )
    return [r.id for r in result]


def _sort_value(row: Any, field: str, direction: str) -> tuple[bool, Any]:
    if field == "ID":
        value: Any = row.id
    elif field == "STATUS":
        value = STATUS_RANK[row.status]
    else:
        value = getattr(row, FIELDS[field])
    present = value is not None
    # NULLs last: they sort after every value, whichever the direction.
    if direction == "DESC":
        return (present, value if present else _MIN)
    return (not present, value if present else _MIN)


class _Min:
    def __lt__(self, other: object) -> bool:
        return True

    def __gt__(self, other: object) -> bool:
        return False


_MIN: Any = _Min()


async def walk(
    env: Env, key: str, order: list[dict[str, str]], size: int, backward: bool
) -> list[str]:
    """Every id, page by page, checking pageInfo at each step; returns them in listing order."""
    seen: list[list[str]] = []
    cursor = None
    while True:
        variables: dict[str, Any] = {"orderBy": order}
        variables.update(
            {"last": size, "before": cursor} if backward else {"first": size, "after": cursor}
        )
        page = (await env.data(PAGE, variables, key=key))["jobs"]
        ids = [e["node"]["id"] for e in page["edges"]]
        info = page["pageInfo"]
        more = info["hasPreviousPage"] if backward else info["hasNextPage"]
        behind = info["hasNextPage"] if backward else info["hasPreviousPage"]
        assert behind == bool(seen), (info, len(seen))
        if ids:
            assert info["startCursor"] == page["edges"][0]["cursor"]
            assert info["endCursor"] == page["edges"][-1]["cursor"]
        seen.append(ids)
        if not more:
            break
        assert len(ids) == size
        cursor = info["startCursor"] if backward else info["endCursor"]
    if backward:
        seen.reverse()
    return [i for ids in seen for i in ids]


@settings(
    max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(order=orders, size=st.integers(min_value=7, max_value=60))
async def test_walks_equal_the_reference_sort(
    env: Env, order: list[tuple[str, str]], size: int
) -> None:
    expected = await reference(env, "acme", order)
    api_order = [{"field": f, "direction": d} for f, d in order]
    assert await walk(env, "acme.read", api_order, size, backward=False) == expected
    assert await walk(env, "acme.read", api_order, size, backward=True) == expected


async def test_first_and_last_default_and_bounds(env: Env) -> None:
    page = await env.data("{ jobs { edges { cursor } } }")
    assert len(page["jobs"]["edges"]) == 25
    page = await env.data("{ jobs(first: 100) { edges { cursor } } }")
    assert len(page["jobs"]["edges"]) == 100


@pytest.mark.parametrize(
    ("arguments", "argument"),
    [
        ("first: 0", "first"),
        ("first: -1", "first"),
        ("first: 101", "first"),
        ("last: 0", "last"),
        ("last: 1000", "last"),
        ("first: 5, last: 5", "last"),
        ('after: "garbage"', "after"),
        ('before: "%%%"', "before"),
        ('after: ""', "after"),
        ('after: "WzEsIkNSRUFURURfQVQ6REVTQyJd"', "after"),  # valid base64, wrong payload
        ('after: "WzIsIkNSRUFURURfQVQ6REVTQyxJRDpERVNDIixbbnVsbCwiYSJdXQ"', "after"),  # version 2
        ('after: "WzEsIkNSRUFURURfQVQ6REVTQyxJRDpERVNDIixbbnVsbCwiYSJdXQ"', "after"),  # null key
        ('after: "WzEsIkNSRUFURURfQVQ6REVTQyxJRDpERVNDIixbIm5vdC1hLWRhdGUiLCJhIl1d"', "after"),
    ],
)
async def test_bad_page_arguments(env: Env, arguments: str, argument: str) -> None:
    body = await env.gql(f"{{ jobs({arguments}) {{ edges {{ cursor }} }} }}")
    assert body["data"] is None
    (error,) = body["errors"]
    assert error["extensions"] == {"code": "BAD_USER_INPUT", "argument": argument}
    assert "Traceback" not in error["message"] and "Error" not in error["message"]


async def test_cursor_from_another_order_is_refused(env: Env) -> None:
    page = await env.data("{ jobs(first: 1) { pageInfo { endCursor } } }")
    cursor = page["jobs"]["pageInfo"]["endCursor"]
    body = await env.gql(
        "query($c: String) { jobs(after: $c, orderBy: [{field: TLP}]) { nodes { id } } }",
        {"c": cursor},
    )
    assert body["errors"][0]["extensions"] == {"code": "BAD_USER_INPUT", "argument": "after"}


async def test_statement_count_does_not_depend_on_depth_or_size(env: Env) -> None:
    query = (
        "query($first: Int, $after: String) { jobs(first: $first, after: $after) "
        "{ edges { cursor node { id analyzer { name } } } "
        "pageInfo { hasNextPage hasPreviousPage endCursor } } }"
    )
    counts = []
    cursor = None
    for size in (5, 50, 5, 100):
        with env.statements() as seen:
            page = (await env.data(query, {"first": size, "after": cursor}))["jobs"]
        counts.append(len(seen))
        cursor = page["pageInfo"]["endCursor"]
    # The first page knows it has nothing behind it; later pages ask once.
    assert counts[1:] == [counts[1]] * 3 and counts[0] == counts[1] - 1, counts


async def test_walk_is_stable_under_writes(env: Env) -> None:
    """Rows inserted or deleted elsewhere never make a row that existed throughout be
    skipped or repeated."""
    async with env.app.state.db.read() as conn:
        template = (
            await conn.execute(select(jobs).where(jobs.c.organization_id == "demo").limit(1))
        ).one()
    before = await reference(env, "demo", [])
    walked: list[str] = []
    cursor = None
    for step in range(100):
        page = (await env.data(PAGE, {"first": 20, "after": cursor}))["jobs"]
        walked += [e["node"]["id"] for e in page["edges"]]
        await _churn(env, template, step)
        if not page["pageInfo"]["hasNextPage"]:
            break
        cursor = page["pageInfo"]["endCursor"]
    survivors = [i for i in before if not i.startswith("churn")]
    assert [i for i in walked if i in set(survivors)] == survivors
    assert len(walked) == len(set(walked))


async def _churn(env: Env, template: Any, step: int) -> None:
    """Insert a newest, an oldest and a middle row; delete the previous step's rows."""
    from datetime import UTC, timedelta

    async with env.app.state.db.write() as conn:
        await conn.execute(jobs.delete().where(jobs.c.id.like(f"churn{step - 1:03d}%")))
        base = template._asdict()
        for n, at in enumerate(
            (
                datetime.now(UTC),
                datetime(2001, 1, 1, tzinfo=UTC),
                template.created_at - timedelta(seconds=1),
            )
        ):
            await conn.execute(
                jobs.insert().values({**base, "id": f"churn{step:03d}{n}", "created_at": at})
            )


OFFSETS = st.integers(-1439, 1439).map(lambda minutes: timezone(timedelta(minutes=minutes)))


@given(st.datetimes(timezones=OFFSETS))
def test_a_cursor_writes_a_time_as_isoformat_does(moment: datetime) -> None:
    """Cursors hold times (UTC, read from the database) as orjson writes them, which must be
    isoformat()'s text: cursors made before stay valid; decode reads them with fromisoformat.
    (Whole-minute offsets: orjson drops the seconds of a historical offset such as LMT's.)"""
    ordering = job_ordering((("CREATED_AT", True),))
    cursor = ordering.encode([moment, "id"])
    assert orjson.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))[2] == [
        moment.isoformat(),
        "id",
    ]
