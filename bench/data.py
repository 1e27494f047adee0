"""The benchmark's data: its databases (built or reused), an API key, the four requests' bodies."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg  # type: ignore[import-untyped]
import orjson
from sqlalchemy import func, select
from sqlalchemy.engine import make_url

from app.config import Settings
from app.db.engine import Database
from app.db.models import artifacts, jobs
from app.services.jobs import job_ordering

ROOT = Path(__file__).resolve().parents[1]
QUERIES = Path(__file__).with_name("queries")
NAMES = ("q1", "q2", "q3", "q4", "q5", "q6")
ORG = "synth-a"
ORGS = ("synth-a", "synth-b", "synth-c")
DEEP_ROW = 500_000  # Q2 starts after the cursor of this row of the organization's listing
Q4_TQL = (
    'status in ("SUCCESS", "FAILURE") and createdAt >= "{since}" '
    'and (analyzerName startswith "Abuse" or tlp >= 2)'
)
JOBQL = str(ROOT / ".venv" / "bin" / "jobql")


def operation(name: str) -> str:
    return (QUERIES / f"{name}.graphql").read_text()


@dataclass(frozen=True)
class Store:
    """One database under test and the environment jobql needs to serve it."""

    name: str  # "postgresql" or "sqlite"
    url: str  # SQLAlchemy URL
    data_dir: Path

    @property
    def env(self) -> dict[str, str]:
        return {
            **os.environ,
            "JOBQL_DATABASE_URL": self.url,
            "JOBQL_BLOB_DIR": str(self.data_dir / "blobs"),
            "JOBQL_SECRET_FILE": str(self.data_dir / "jobql.secret"),
            # One key makes all the load: jobql's per-key rate limit (100/s) would answer 429.
            "JOBQL_RATE_LIMIT_PER_SECOND": "0",
        }

    @property
    def dsn(self) -> str:
        """The URL in asyncpg's spelling."""
        url = make_url(self.url).set(drivername="postgresql")
        return url.render_as_string(hide_password=False)

    @property
    def database(self) -> str:
        return str(make_url(self.url).database)

    def jobql(self, *args: str) -> str:
        result = subprocess.run(
            [JOBQL, *args], env=self.env, cwd=self.data_dir, check=True, stdout=subprocess.PIPE
        )
        return result.stdout.decode().strip()


async def _create_database(store: Store) -> None:
    admin = make_url(store.url).set(drivername="postgresql", database="postgres")
    conn = await asyncpg.connect(admin.render_as_string(hide_password=False))
    try:
        exists = await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", store.database)
        if not exists:
            await conn.execute(f'CREATE DATABASE "{store.database}"')
        # Every statement runs in the backend it was sent to, whose CPU the benchmark reads
        # (a parallel worker's would be missed); with 16 busy clients on 2 cores there is no
        # idle core for parallel workers anyway.
        await conn.execute(
            f'ALTER DATABASE "{store.database}" SET max_parallel_workers_per_gather = 0'
        )
    finally:
        await conn.close()


async def _count(store: Store) -> int:
    # A count of a million rows on a cold SQLite file can outlast the serving timeout (5 s).
    patient = {
        "statement_timeout_ms": 600_000,
        "request_timeout_seconds": 601,
        "shutdown_grace_seconds": 601,
    }
    settings = Settings(database_url=store.url, blob_dir=store.data_dir / "blobs", **patient)
    db = Database(settings)
    try:
        async with db.read() as conn:
            found = await conn.scalar(select(func.count()).where(jobs.c.organization_id.in_(ORGS)))
            return int(found or 0)
    finally:
        await db.dispose()


def prepare(store: Store, wanted: int) -> dict[str, Any]:
    """Builds the database up to `wanted` synthetic jobs (or reuses it); returns how it was made."""
    store.data_dir.mkdir(parents=True, exist_ok=True)
    if store.name == "postgresql":
        asyncio.run(_create_database(store))
    store.jobql("db", "upgrade")
    have = asyncio.run(_count(store))
    record = store.data_dir / f"seed-{store.name}.json"
    if have < wanted:
        print(f"[{store.name}] seeding {wanted - have:,} jobs (have {have:,})", flush=True)
        started = time.monotonic()
        subprocess.run(
            [JOBQL, "seed", "--synthetic", str(wanted - have)],
            env=store.env,
            cwd=store.data_dir,
            check=True,
            stdout=subprocess.DEVNULL,  # the new users' keys: the benchmark makes its own
            stderr=sys.stderr,
        )
        seconds = time.monotonic() - started
        info = {"jobs": wanted - have, "seconds": round(seconds, 1), "at": _now()}
        record.write_text(json.dumps(info))
    seeded: dict[str, Any] = json.loads(record.read_text()) if record.exists() else {}
    return {"jobs": max(have, wanted), "seeded": seeded}


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def api_key(store: Store) -> str:
    """A fresh read key of the benchmark's user in synth-a (created on first use)."""
    return store.jobql(
        "apikey", "create", "--org", ORG, "--login", f"bench@{ORG}", "--roles", "read"
    )


async def _variables(store: Store) -> dict[str, dict[str, Any]]:
    # OFFSET 499,999 takes a while on SQLite: more than jobql's own statement budget.
    settings = Settings(
        database_url=store.url,
        blob_dir=store.data_dir / "blobs",
        statement_timeout_ms=600_000,
        request_timeout_seconds=601,
        shutdown_grace_seconds=601,
    )
    db = Database(settings)
    visible = (jobs.c.organization_id == ORG) & (jobs.c.status != "DELETED")
    newest_first = (jobs.c.created_at.desc(), jobs.c.id.desc())
    try:
        async with db.read() as conn:
            deep = (
                await conn.execute(
                    select(jobs.c.id, jobs.c.created_at)
                    .where(visible)
                    .order_by(*newest_first)
                    .offset(DEEP_ROW - 1)
                    .limit(1)
                )
            ).one()
            has_artifact = select(artifacts.c.id).where(artifacts.c.job_id == jobs.c.id).exists()
            detail = await conn.scalar(
                select(jobs.c.id)
                .where(
                    visible, jobs.c.status == "SUCCESS", jobs.c.data_type == "file", has_artifact
                )
                .order_by(*newest_first)
                .limit(1)
            )
            newest = await conn.scalar(select(func.max(jobs.c.created_at)).where(visible))
    finally:
        await db.dispose()
    assert newest is not None and detail is not None
    since = (newest - timedelta(days=30)).isoformat()
    return {
        "q5": {"since": (newest - timedelta(days=7)).isoformat()},
        "q6": {"from": (newest - timedelta(days=90)).isoformat(), "to": newest.isoformat()},
        "q1": {},
        "q2": {"after": job_ordering(()).cursor(deep)},
        "q3": {"id": detail},
        "q4": {"tql": Q4_TQL.format(since=since)},
    }


def bodies(store: Store, folder: Path) -> dict[str, Path]:
    """Each request's JSON body, written to a file for wrk."""
    variables = asyncio.run(_variables(store))
    folder.mkdir(parents=True, exist_ok=True)
    found = {}
    for name in NAMES:
        body = {
            "query": operation(name),
            "operationName": f"Bench{name.upper()}",
            "variables": variables[name],
        }
        path = folder / f"{store.name}-{name}.json"
        path.write_bytes(orjson.dumps(body))
        found[name] = path
    return found
