"""The event log's cursor and the hub, driven directly over real databases: an event that
commits late below a reader's position, a subscriber too slow to read, and one tail query
per wake however many subscribers."""

from __future__ import annotations

import asyncio
import contextlib
from datetime import UTC, datetime
from typing import Any

import asyncpg  # type: ignore[import-untyped]
import pytest
from sqlalchemy import insert, select

from app.db.engine import Database
from app.db.models import job_events
from app.services.eventlog import LogFilter, Position, page, settled_head, tail
from app.services.lifecycle import cancel_job
from app.services.live import Hub, SubscriberTooSlow
from tests.conftest import POSTGRES_URL
from tests.mutation_support import job_ids
from tests.support import Env, count_statements

DEMO = LogFilter("demo")


def _db(env: Env) -> Database:
    db: Database = env.app.state.db
    return db


async def _event(conn: Any, job_id: str) -> int:
    row = {"job_id": job_id, "at": datetime.now(UTC), "status": "WAITING", "actor": "test"}
    result = await conn.execute(insert(job_events).values(row).returning(job_events.c.id))
    return int(result.scalar_one())


async def test_an_event_committed_late_below_the_readers_position_is_not_skipped(
    env: Env,
) -> None:
    if env.backend != "postgres":
        pytest.skip("SQLite has one writer at a time: ids are commit order there")
    early_job, late_job = await job_ids(env, "WAITING", 2)
    db = _db(env)
    async with db.read() as conn:
        start = await settled_head(conn)
    async with db.engine.connect() as early, db.engine.connect() as late:
        early_tx = await early.begin()
        early_id = await _event(early, early_job)  # the lower id, held open
        async with late.begin():
            late_id = await _event(late, late_job)
        assert early_id < late_id
        # A naive reader (id > cursor) sees the later event now and moves past the earlier.
        async with db.read() as conn:
            naive = (
                (await conn.execute(select(job_events.c.id).where(job_events.c.id > start.id)))
                .scalars()
                .all()
            )
        assert late_id in naive and early_id not in naive
        # The log holds the later one back while the earlier transaction is open.
        async with db.read() as conn:
            assert [e.event.id for e in await tail(conn, start, 100)] == []
            assert (await page(conn, start, DEMO, 100)).entries == []
        await early_tx.commit()
    seen = await _read_until(db, start, {early_id, late_id})
    assert seen == [early_id, late_id]  # both, once each, in log order
    async with db.read() as conn:
        naive_after = (
            (await conn.execute(select(job_events.c.id).where(job_events.c.id > late_id)))
            .scalars()
            .all()
        )
    assert early_id not in naive_after  # the naive reader would have lost it for good


async def _read_until(db: Database, start: Position, wanted: set[int]) -> list[int]:
    """The ids read by the log's own readers, tail and page, until `wanted` were read
    (another test's open transaction in the cluster may hold them back a moment)."""
    for _ in range(600):
        async with db.read() as conn:
            by_tail = [e.event.id for e in await tail(conn, start, 1000)]
            by_page = [e.event.id for e in (await page(conn, start, DEMO, 1000)).entries]
        if wanted <= set(by_tail):
            assert by_page == by_tail
            return [i for i in by_tail if i in wanted]
        await asyncio.sleep(0.05)
    raise AssertionError("the events never became readable")


def _quiet_hub(env: Env, **overrides: Any) -> Hub:
    """A hub that reads only when woken: no timer in the way of counting."""
    settings = env.settings.model_copy(
        update={"live_poll_seconds": 60, "live_safety_seconds": 60, **overrides}
    )
    return Hub(_db(env), settings)


async def _cancel(env: Env, job_id: str) -> None:
    await cancel_job(_db(env), organization="demo", job_id=job_id, actor="test")


async def test_a_subscriber_that_never_reads_is_ended_with_its_cursor(env: Env) -> None:
    hub = _quiet_hub(env, live_queue_size=3)
    ids = await job_ids(env, "WAITING", 8)
    stream = hub.stream(DEMO, None, key="k")
    waiting = asyncio.create_task(anext(stream))  # joins, then waits for its first event
    try:
        await _wait(lambda: hub.subscribers == 1)
        [subscriber] = list(hub._subscribers)
        joined_at = subscriber.position
        for job_id in ids:
            await _cancel(env, job_id)
        # It may hold 3 events: past that it is ended (and its queue emptied) instead of
        # holding more. It takes at most the first event (usually one read brings all 8).
        await _wait(lambda: subscriber.ended, hub)
        assert subscriber.queue.qsize() <= 1 and hub.subscribers == 0
        last = joined_at
        with pytest.raises(SubscriberTooSlow) as ended:
            got = await waiting
            last = got.position
            await anext(stream)
        # Its cursor is the last event it was given: resuming from it misses nothing.
        assert ended.value.extensions["cursor"] == last.cursor
        async with _db(env).read() as conn:
            resumed = await page(conn, last, DEMO, 100)
        taken = [] if last == joined_at else [ids[0]]
        assert taken + [e.event.job_id for e in resumed.entries] == ids
    finally:
        await stream.aclose()
        await hub.close()


async def _wait(condition: Any, hub: Hub | None = None, seconds: float = 30) -> None:
    """Until `condition`, waking `hub` meanwhile: on PostgreSQL, another test's transaction
    open in the cluster holds newer events back until it ends."""
    async with asyncio.timeout(seconds):
        while not condition():
            if hub is not None:
                hub.wake()
            await asyncio.sleep(0.05)


async def _deliveries(hub: Hub, subscribers: int, events: int) -> int:
    """Joins `subscribers`, makes `events` events, wakes the hub once: the log statements
    that one wake cost, once everyone has every event."""
    streams = [hub.stream(DEMO, None, key=f"k{i}") for i in range(subscribers)]
    received = [0] * subscribers

    async def read(i: int) -> None:
        async for _ in streams[i]:
            received[i] += 1

    readers = [asyncio.create_task(read(i)) for i in range(subscribers)]
    try:
        await _wait(lambda: hub.subscribers == subscribers)
        await asyncio.sleep(0.1)  # the wake of the last join has been read
        return await _one_wake(hub, received, events)
    finally:
        for reader in readers:
            reader.cancel()
        for reader in readers:
            with contextlib.suppress(asyncio.CancelledError):
                await reader


async def _one_wake(hub: Hub, received: list[int], events: int) -> int:
    env_db = hub.db
    reads = hub.reads
    with count_statements(env_db) as seen:
        ids = await _waiting(env_db, events)
        for job_id in ids:
            await cancel_job(env_db, organization="demo", job_id=job_id, actor="test")
        before = len(seen)
        for _ in range(600):  # another test's open transaction may hold them back
            hub.wake()
            await asyncio.sleep(0.05)
            if all(n == events for n in received):
                break
        assert all(n == events for n in received), received
        log_reads = [s for s in seen[before:] if "FROM job_event JOIN job" in s]
    assert len(log_reads) == hub.reads - reads
    return len(log_reads)


async def _waiting(db: Database, count: int) -> list[str]:
    from app.db.models import jobs

    query = select(jobs.c.id).where(jobs.c.organization_id == "demo", jobs.c.status == "WAITING")
    async with db.read() as conn:
        return list((await conn.execute(query.order_by(jobs.c.id).limit(count))).scalars())


async def test_one_tail_query_per_wake_however_many_subscribers(env: Env) -> None:
    hub = _quiet_hub(env)
    try:
        one = await _deliveries(hub, 1, 3)
        many = await _deliveries(hub, 50, 3)
    finally:
        await hub.close()
    if env.backend == "sqlite":  # nothing holds events back there: one wake, one read
        assert one == many == 1
    else:
        assert many <= one + 3  # wakes that found nothing yet; never one per subscriber


async def test_a_transaction_open_in_another_database_does_not_hold_delivery(env: Env) -> None:
    if env.backend != "postgres":
        pytest.skip("PostgreSQL's transaction ids are cluster-wide; SQLite has none")
    [job] = await job_ids(env, "WAITING")
    db = _db(env)
    async with db.read() as conn:
        start = await settled_head(conn)
    assert POSTGRES_URL
    elsewhere = await asyncpg.connect(POSTGRES_URL.replace("postgresql+asyncpg", "postgresql"))
    try:
        holder = elsewhere.transaction()
        await holder.start()
        await elsewhere.fetchval("SELECT pg_current_xact_id()")  # holds an xid, open
        async with db.write() as conn:
            event_id = await _event(conn, job)
        async with db.read() as conn:
            read = [e.event.id for e in await tail(conn, start, 100)]
        assert read == [event_id]  # the other database's open transaction is not waited for
        await holder.rollback()
    finally:
        await elsewhere.close()


async def test_subscribers_from_now_join_a_running_hub_without_a_read_of_their_own(
    env: Env,
) -> None:
    """A thousand clients subscribing at once must not each read the log's head and a first
    page (2,000 reads through a pool of 10): once the hub runs, its last read is "now"."""
    hub = _quiet_hub(env)
    streams = [hub.stream(DEMO, None, key=f"k{i}") for i in range(501)]
    nexts = [asyncio.create_task(anext(streams[0]))]
    try:
        await _wait(lambda: hub.subscribers == 1)
        await _wait(lambda: hub._read_to is not None, hub)  # the hub has read once
        reads = hub.reads
        with count_statements(_db(env)) as seen:
            nexts += [asyncio.create_task(anext(s)) for s in streams[1:]]
            await _wait(lambda: hub.subscribers == 501)
            await asyncio.sleep(0.1)
        assert len(seen) == hub.reads - reads  # the hub's own tail reads (woken by joins) only
        [job_id] = await _waiting(_db(env), 1)
        await _cancel(env, job_id)
        await _wait(lambda: all(n.done() for n in nexts), hub)
        assert {n.result().event.job_id for n in nexts} == {job_id}
    finally:
        for task in nexts:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await hub.close()
