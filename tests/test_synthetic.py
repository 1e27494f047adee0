"""The synthetic generator: the demo's shape and distributions, append-safe, served by the API."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from app.auth import Role
from app.config import Settings
from app.db.engine import Database
from app.db.migrate import upgrade
from app.db.models import (
    analyzers,
    api_keys,
    artifacts,
    job_events,
    job_queue,
    jobs,
    reports,
    users,
)
from app.main import create_app
from app.seed.synthetic import seed_synthetic
from app.services.users import create_api_key
from tests.conftest import make_settings

N = 2000
NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
DATA_TYPES = {"ip", "domain", "url", "hash", "file", "fqdn", "mail"}


async def _rows(settings: Settings, query: Any) -> list[Any]:
    db = Database(settings)
    try:
        async with db.read() as conn:
            return list((await conn.execute(query)).all())
    finally:
        await db.dispose()


async def _count(settings: Settings, table: Any) -> int:
    rows = await _rows(settings, select(func.count()).select_from(table))
    return int(rows[0][0])


async def test_jobs_have_the_demo_shape(empty_settings: Settings) -> None:
    await seed_synthetic(empty_settings, N, now=NOW)
    by_org = dict(
        await _rows(
            empty_settings,
            select(jobs.c.organization_id, func.count()).group_by(jobs.c.organization_id),
        )
    )
    assert by_org == {"synth-a": 1200, "synth-b": 500, "synth-c": 300}
    found = await _rows(
        empty_settings,
        select(
            jobs.c.status, jobs.c.data_type, jobs.c.data, jobs.c.attachment_id, jobs.c.created_at
        ),
    )
    statuses = [r.status for r in found]
    assert 0.64 < statuses.count("SUCCESS") / N < 0.76
    assert set(statuses) == {
        "WAITING",
        "IN_PROGRESS",
        "SUCCESS",
        "FAILURE",
        "TIMEOUT",
        "CANCELLED",
        "DELETED",
    }
    assert {r.data_type for r in found} == DATA_TYPES
    files = [r for r in found if r.data_type == "file"]
    assert 0.07 < len(files) / N < 0.13
    assert all(r.attachment_id and r.data is None for r in files)
    assert all(r.data and r.attachment_id is None for r in found if r.data_type != "file")
    times = [r.created_at for r in found]
    unfinished = [r.created_at for r in found if r.status in ("WAITING", "IN_PROGRESS")]
    assert unfinished and min(unfinished) >= sorted(times)[-50]  # only the newest jobs
    assert NOW - timedelta(days=90) <= min(times) and max(times) <= NOW
    assert max(times) - min(times) > timedelta(days=80)


async def test_reports_events_analyzers_and_users(empty_settings: Settings) -> None:
    await seed_synthetic(empty_settings, N, now=NOW)
    reported = await _rows(
        empty_settings,
        select(jobs.c.status, reports.c.success, reports.c.taxonomies, reports.c.full).join(
            reports, reports.c.job_id == jobs.c.id
        ),
    )
    assert {r.status for r in reported} == {"SUCCESS", "FAILURE", "TIMEOUT", "DELETED"}
    successes = [r for r in reported if r.status == "SUCCESS"]
    assert all(r.success and r.taxonomies and r.full["results"] for r in successes)
    assert all(not r.success and r.full["errorMessage"] for r in reported if r.status == "FAILURE")
    assert await _count(empty_settings, artifacts) > len(successes) // 3
    first = await _rows(
        empty_settings,
        select(job_events.c.status, func.count())
        .where(job_events.c.previous_status.is_(None))
        .group_by(job_events.c.status),
    )
    assert first == [("WAITING", N)]  # every job starts with one submission event
    assert await _count(empty_settings, job_events) > 2 * N
    assert await _count(empty_settings, analyzers) == 50
    roles = await _rows(empty_settings, select(users.c.organization_id, users.c.roles))
    assert len(roles) == 9 and {tuple(r.roles) for r in roles} >= {
        ("READ",),
        ("READ", "ANALYZE", "ORGADMIN"),
    }
    assert await _count(empty_settings, api_keys) == 9


async def test_a_second_run_appends(empty_settings: Settings) -> None:
    await seed_synthetic(empty_settings, N, now=NOW)
    await seed_synthetic(empty_settings, 500, now=NOW)
    assert await _count(empty_settings, jobs) == N + 500
    assert await _count(empty_settings, analyzers) == 50
    assert await _count(empty_settings, users) == 9


@pytest.mark.parametrize("backend", ["sqlite"])
async def test_the_same_seed_makes_the_same_jobs(backend: str, tmp_path: Path) -> None:
    found = []
    for name in ("one", "two"):
        settings = make_settings(f"sqlite+aiosqlite:///{tmp_path}/{name}.db", tmp_path / name)
        await upgrade(settings.database_url)
        await seed_synthetic(settings, 300, now=NOW)
        found.append(await _rows(settings, select(jobs).order_by(jobs.c.id)))
    assert found[0] == found[1]


async def test_the_api_serves_synthetic_jobs(empty_settings: Settings) -> None:
    await seed_synthetic(empty_settings, N, now=NOW)
    db = Database(empty_settings)
    try:
        key = await create_api_key(db, organization="synth-b", login="t@synth-b", roles=[Role.READ])
    finally:
        await db.dispose()
    app = create_app(empty_settings)
    query = """{ jobs(first: 50) { totalCount nodes { id status dataType organization
        analyzer { name } attachment { sha256 } report { summary { taxonomies { level } } } } } }"""
    try:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://jobql.test") as client:
            response = await client.post(
                "/graphql", json={"query": query}, headers={"Authorization": f"Bearer {key}"}
            )
    finally:
        await app.state.db.dispose()
    body = response.json()
    assert "errors" not in body, body
    page = body["data"]["jobs"]
    visible = await _rows(
        empty_settings,
        select(func.count()).where(jobs.c.organization_id == "synth-b", jobs.c.status != "DELETED"),
    )
    assert page["totalCount"] == visible[0][0]
    assert {n["organization"] for n in page["nodes"]} == {"synth-b"}
    assert all(n["analyzer"]["name"] for n in page["nodes"])
    assert any(n["report"] and n["report"]["summary"]["taxonomies"] for n in page["nodes"])


async def test_waiting_jobs_are_queued(empty_settings: Settings) -> None:
    """Each WAITING job has its QUEUED row, as a submission leaves it, so workers can claim it."""
    await seed_synthetic(empty_settings, N, now=NOW)
    waiting = await _rows(
        empty_settings,
        select(jobs.c.id, jobs.c.organization_id, jobs.c.analyzer_id).where(
            jobs.c.status == "WAITING"
        ),
    )
    queued = await _rows(
        empty_settings,
        select(job_queue.c.job_id, job_queue.c.organization_id, job_queue.c.analyzer_id).where(
            job_queue.c.state == "QUEUED"
        ),
    )
    assert waiting and sorted(map(tuple, waiting)) == sorted(map(tuple, queued))
    assert await _count(empty_settings, job_queue) == len(waiting)
