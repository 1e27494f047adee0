"""Racing transitions over a real uvicorn server: exactly one wins, the history stays whole.

The users' requests go through real sockets to uvicorn, each on its own pooled connection;
the worker finishes the job through a database handle of its own, as a worker process would.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest
import uvicorn
from sqlalchemy import event, text
from starlette.applications import Starlette

from app.db.engine import Database
from app.errors import Conflict
from app.services.lifecycle import ReportData, finish_job, start_job
from tests.live_server import free_port
from tests.mutation_support import (
    CANCEL,
    DELETE,
    assert_consistent_history,
    database,
    job_id,
    job_ids,
    lifecycle,
)
from tests.support import KEYS, Env

REPORT = ReportData(success=True, full={"verdict": "clean"})
BULK_DELETE = "mutation($t: String!) { deleteJobs(tql: $t) }"


@contextlib.asynccontextmanager
async def served(app: Starlette) -> AsyncIterator[httpx.AsyncClient]:
    """The app behind a real uvicorn on a free port, and a client with room for every caller."""
    port = free_port()
    config = uvicorn.Config(app, host="127.0.0.1", port=port, lifespan="off", log_level="warning")
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    while not server.started:
        assert not task.done(), "uvicorn did not start"
        await asyncio.sleep(0.01)
    limits = httpx.Limits(max_connections=100)
    try:
        async with httpx.AsyncClient(
            base_url=f"http://127.0.0.1:{port}", limits=limits, timeout=30
        ) as client:
            yield client
    finally:
        server.should_exit = True
        await task


async def _worker_finish(env: Env, id: str, *, after: threading.Event | None) -> Any:
    """The worker's finish, on its own connections; a lost race comes back as the Conflict."""
    worker = Database(env.settings)
    try:
        while after is not None and not after.is_set():
            await asyncio.sleep(0.001)
        return await finish_job(
            worker, organization="demo", job_id=id, worker="cortex-worker", report=REPORT
        )
    except Conflict as lost:
        return lost
    finally:
        await worker.dispose()


async def _race(
    env: Env, id: str, document: str, callers: int, worker: str
) -> tuple[list[httpx.Response], Any]:
    """`callers` users send `document` at once; the worker finishes the job either at once
    ("first") or as soon as the first user's UPDATE is on its way ("mid")."""
    headers = {"Authorization": f"Bearer {KEYS['demo.analyze']}"}
    body = {"query": document, "variables": {"id": id}}
    with _first_user_update(env) as updating:
        async with served(env.app) as client:
            calls = [client.post("/graphql", json=body, headers=headers) for _ in range(callers)]
            finish = _worker_finish(env, id, after=None if worker == "first" else updating)
            *responses, outcome = await asyncio.gather(*calls, finish)
    return responses, outcome


@contextlib.contextmanager
def _first_user_update(env: Env) -> Iterator[threading.Event]:
    """Set once the app sends its first UPDATE of a job (from whichever thread runs it)."""
    seen = threading.Event()

    def watch(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        if statement.lstrip().upper().startswith("UPDATE JOB"):
            seen.set()

    event.listen(env.engine.sync_engine, "before_cursor_execute", watch)
    try:
        yield seen
    finally:
        event.remove(env.engine.sync_engine, "before_cursor_execute", watch)


def _no_failures(responses: list[httpx.Response], caplog: pytest.LogCaptureFixture) -> None:
    for response in responses:
        assert response.status_code == 200, response.text
        assert "locked" not in response.text
        codes = {e["extensions"]["code"] for e in response.json().get("errors", [])}
        assert codes <= {"CONFLICT"}, response.text
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


async def _running_job(env: Env) -> str:
    id = await job_id(env, "WAITING")
    await start_job(database(env), organization="demo", job_id=id, worker="cortex-worker")
    return id


@pytest.mark.parametrize("worker", ["first", "mid"])
async def test_fifty_cancels_race_a_finish(
    env: Env, worker: str, caplog: pytest.LogCaptureFixture
) -> None:
    id = await _running_job(env)
    responses, outcome = await _race(env, id, CANCEL, 50, worker)
    _no_failures(responses, caplog)
    job = await lifecycle(env, id)
    assert job is not None
    assert_consistent_history(job)
    after_start = [e["status"] for e in job["events"]][2:]
    assert after_start == [job["status"]]  # exactly one transition left IN_PROGRESS
    bodies = [r.json() for r in responses]
    if job["status"] == "SUCCESS":
        assert not isinstance(outcome, Conflict) and job["report"] is not None
        assert all(b["errors"][0]["extensions"]["status"] == "SUCCESS" for b in bodies)
    else:
        assert job["status"] == "CANCELLED" and job["report"] is None
        assert isinstance(outcome, Conflict) and outcome.extensions == {"status": "CANCELLED"}
        # Every caller sees the one cancelled job: the winner's and the others' answers agree.
        assert all(b["data"]["cancelJob"]["events"] == job["events"] for b in bodies)


@pytest.mark.parametrize("worker", ["first", "mid"])
async def test_twenty_deletes_race_a_finish(
    env: Env, worker: str, caplog: pytest.LogCaptureFixture
) -> None:
    id = await _running_job(env)
    responses, outcome = await _race(env, id, DELETE, 20, worker)
    _no_failures(responses, caplog)
    job = await lifecycle(env, id)
    assert job is not None and job["status"] == "DELETED"
    assert_consistent_history(job)
    statuses = [e["status"] for e in job["events"]]
    assert statuses.count("DELETED") == 1
    finished = statuses == ["WAITING", "IN_PROGRESS", "SUCCESS", "DELETED"]
    assert finished or statuses == ["WAITING", "IN_PROGRESS", "DELETED"]
    assert isinstance(outcome, Conflict) != finished
    assert (job["report"] is not None) == finished
    assert all(r.json()["data"]["deleteJob"]["status"] == "DELETED" for r in responses)


async def test_a_bulk_delete_chosen_as_a_deadlocks_victim_runs_again(
    env: Env, caplog: pytest.LogCaptureFixture
) -> None:
    """Another transaction holds the last of the matching jobs, the bulk delete waits on it,
    then that transaction asks for the first one, which the delete already holds: PostgreSQL
    rolls the delete back (its deadlock check fires first) and jobql runs it again."""
    if env.backend == "sqlite":
        pytest.skip("SQLite has one writer at a time: nothing to deadlock")
    ids = sorted(await job_ids(env, "FAILURE", 4))
    tql = "id IN (" + ", ".join(f'"{i}"' for i in ids) + ")"
    lock = text("SELECT id FROM job WHERE id = :id FOR UPDATE")
    async with env.engine.connect() as other:
        await other.execute(text("SET deadlock_timeout = '30s'"))  # the delete checks first
        await other.execute(lock, {"id": ids[-1]})
        delete = asyncio.create_task(env.data(BULK_DELETE, {"t": tql}, key="demo.admin"))
        await _until_waiting_on_a_lock(env)
        await other.execute(lock, {"id": ids[0]})  # granted once the delete was rolled back
        await other.commit()
    assert (await delete)["deleteJobs"] == 4
    assert "deadlock: transaction rolled back" in caplog.text
    for id in ids:  # one delete event each: nothing of the rolled-back attempt stayed
        job = await lifecycle(env, id)
        assert job is not None and [e["status"] for e in job["events"]].count("DELETED") == 1


async def _until_waiting_on_a_lock(env: Env) -> None:
    waiting = text(
        "SELECT count(*) FROM pg_stat_activity"
        " WHERE datname = current_database() AND wait_event_type = 'Lock'"
    )
    for _ in range(500):
        # A connection of its own: statistics views hold still within a transaction.
        async with database(env).read() as conn:
            if await conn.scalar(waiting):
                return
        await asyncio.sleep(0.01)
    raise AssertionError("the bulk delete never waited on the held job")
