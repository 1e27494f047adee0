"""Helpers for the mutation, lifecycle and concurrency tests: operations and demo jobs by status."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from app.db.engine import Database
from tests.support import Env, operation

CANCEL = operation("cancel_job")
DELETE = operation("delete_job")
DELETE_MANY = operation("delete_jobs")
PURGE = operation("purge_job")
LIFECYCLE = operation("job_lifecycle")

LOGINS = {"demo.read": "reader@demo", "demo.analyze": "analyst@demo", "demo.admin": "admin@demo"}
STATUSES = ("WAITING", "IN_PROGRESS", "SUCCESS", "FAILURE", "TIMEOUT", "CANCELLED", "DELETED")
FINISHED = ("SUCCESS", "FAILURE", "TIMEOUT", "CANCELLED")
UNKNOWN_ID = "f" * 20

_BY_STATUS = """
query($status: JobStatus!, $first: Int) {
  jobs(filter: {status: {eq: $status}}, includeDeleted: true, first: $first) { nodes { id } }
}
"""


def database(env: Env) -> Database:
    """The app's own database handle, for the worker-side transitions (no HTTP API yet)."""
    db: Database = env.app.state.db
    return db


async def job_ids(env: Env, status: str, count: int = 1, *, key: str = "demo.read") -> list[str]:
    """Ids of `count` jobs of the caller's organization that are in `status`."""
    data = await env.data(_BY_STATUS, {"status": status, "first": count}, key=key)
    ids = [node["id"] for node in data["jobs"]["nodes"]]
    assert len(ids) == count, f"the demo data has fewer than {count} {status} jobs"
    return ids


async def job_id(env: Env, status: str, *, key: str = "demo.read") -> str:
    return (await job_ids(env, status, key=key))[0]


async def lifecycle(env: Env, id: str, *, key: str = "demo.admin") -> dict[str, Any] | None:
    """The job as its organization sees it (None once purged), events and report included."""
    job: dict[str, Any] | None = (await env.data(LIFECYCLE, {"id": id}, key=key))["job"]
    return job


async def count_jobs(env: Env, tql: str, *, key: str = "demo.read") -> int:
    query = "query($tql: String) { jobs(tql: $tql, includeDeleted: true) { totalCount } }"
    total: int = (await env.data(query, {"tql": tql}, key=key))["jobs"]["totalCount"]
    return total


def assert_consistent_history(job: dict[str, Any] | None) -> None:
    """Events chain: each leaves the status the previous one entered, in time order, and the
    last one is where the job is."""
    assert job is not None
    events = job["events"]
    assert events[0]["previousStatus"] is None
    for earlier, later in zip(events, events[1:], strict=False):
        assert later["previousStatus"] == earlier["status"], events
        assert _time(later["at"]) >= _time(earlier["at"]), events
    assert events[-1]["status"] == job["status"]


def _time(text: str) -> datetime:
    return datetime.fromisoformat(text)
