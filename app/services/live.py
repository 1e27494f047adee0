"""The per-process hub of live updates: one tail query per wake, fanned out to every subscriber.

A subscription first catches up on its own, page by page through the same cursor reads as
the polling query (app/services/eventlog.py), and then joins the hub at the position its
last page ended on. On each wake (a NOTIFY, a commit in this process, or the timer) the hub
reads the log once, from the lowest position of its subscribers, and hands each subscriber
the events of its organization and filters that lie past its own position, into a bounded
queue. A subscriber whose queue is full is ended (SUBSCRIBER_TOO_SLOW, with the cursor of the
last event it was given) rather than held in memory: it resumes from that cursor.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import Counter, defaultdict
from collections.abc import AsyncGenerator
from dataclasses import dataclass, field

from app.config import Settings
from app.db.engine import Database
from app.errors import DomainError
from app.metrics import observe_live_lag
from app.services.eventlog import (
    Entry,
    LogFilter,
    Position,
    check_depth,
    page,
    settled_head,
    tail,
)
from app.services.listener import Listener

log = logging.getLogger("jobql.live")


class SubscriberTooSlow(DomainError):
    """The subscriber's queue filled up: it was ended, and resumes from `cursor`."""

    code = "SUBSCRIBER_TOO_SLOW"


class TooManySubscriptions(DomainError):
    code = "TOO_MANY_SUBSCRIPTIONS"


_ENDED = object()


@dataclass(eq=False, slots=True)
class _Subscriber:
    wanted: LogFilter
    position: Position  # the hub has handed over everything up to here
    delivered: Position  # the last event the subscriber took from its queue
    # One item per wake: the entries that wake brought it (a task wakes once per read, not
    # once per event), or _ENDED. `pending` counts the entries not yet taken.
    queue: asyncio.Queue[object]
    pending: int = 0
    ended: bool = False


@dataclass(eq=False)
class Hub:
    db: Database
    settings: Settings
    reads: int = 0  # tail queries made: the bench and the statement-count test read it
    _subscribers: set[_Subscriber] = field(default_factory=set)
    _per_key: Counter[str] = field(default_factory=Counter)
    _wake: asyncio.Event | None = None
    _task: asyncio.Task[None] | None = None
    # Where the running hub's last tail read ended: "now" for a subscriber from now on, who
    # then needs no read of its own (a thousand joining at once cost one read, not 2,000).
    _read_to: Position | None = None
    _head: asyncio.Future[Position] | None = None  # a head read under way, shared
    # PostgreSQL with NOTIFY on: the LISTEN connection that wakes this hub.
    listener: Listener | None = None

    def listening(self) -> bool:
        return self.listener is not None and self.listener.connected

    def wake(self) -> None:
        if self._wake is not None:
            self._wake.set()

    def committed(self) -> None:
        """Events were committed in this process: read them now, unless a NOTIFY will
        wake the hub anyway (then this would be a second read for the same events)."""
        if not self.listening():
            self.wake()

    @property
    def subscribers(self) -> int:
        return len(self._subscribers)

    async def stream(
        self, wanted: LogFilter, after: Position | None, *, key: str, check: bool = True
    ) -> AsyncGenerator[Entry, None]:
        """The subscriber's events after `after` (None: from now on), then live, for ever."""
        if self._per_key[key] >= self.settings.live_max_subscriptions_per_key:
            limit = self.settings.live_max_subscriptions_per_key
            raise TooManySubscriptions(f"At most {limit} subscriptions per API key")
        self._per_key[key] += 1
        subscriber: _Subscriber | None = None
        try:
            position = await self._start(after, check)
            batch = self.settings.live_batch_size
            while after is not None:  # from a cursor: catch up on its own, the hub has the tail
                async with self.db.read() as conn:
                    got = await page(conn, position, wanted, batch)
                for entry in got.entries:
                    yield entry
                position = got.end
                if len(got.entries) < batch:
                    break
            subscriber = self._join(wanted, position)
            while True:
                item = await subscriber.queue.get()
                if item is _ENDED:
                    raise SubscriberTooSlow(
                        "This subscription fell too far behind and was ended: subscribe "
                        "again with `after` set to `cursor`",
                        cursor=subscriber.delivered.cursor,
                    )
                assert isinstance(item, list)
                for entry in item:
                    subscriber.pending -= 1
                    subscriber.delivered = entry.position
                    observe_live_lag(entry.event.at)
                    yield entry
        finally:
            self._per_key[key] -= 1
            if self._per_key[key] <= 0:
                del self._per_key[key]
            if subscriber is not None:
                self._subscribers.discard(subscriber)

    async def head(self) -> Position:
        async with self.db.read() as conn:
            return await settled_head(conn)

    async def _shared_head(self) -> Position:
        """The head, read once for all who ask while it is being read."""
        if self._head is None:
            self._head = asyncio.ensure_future(self.head())
            self._head.add_done_callback(lambda _: setattr(self, "_head", None))
        return await asyncio.shield(self._head)

    async def _start(self, after: Position | None, check: bool) -> Position:
        if after is None:
            # The hub's last read is as good as the head: whatever was committed after it
            # was committed no earlier than that read, and the hub delivers it.
            return self._read_to if self._read_to is not None else await self._shared_head()
        if check:
            async with self.db.read() as conn:
                await check_depth(conn, after, self.settings.live_replay_depth)
        return after

    def _join(self, wanted: LogFilter, position: Position) -> _Subscriber:
        queue: asyncio.Queue[object] = asyncio.Queue()  # bounded by `pending` (_offer)
        subscriber = _Subscriber(wanted, position, position, queue)
        self._subscribers.add(subscriber)
        if self._wake is None:
            self._wake = asyncio.Event()
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._run(), name="jobql live hub")
        if self.listener is not None:
            self.listener.start()
        self.wake()  # it may have joined while a read was under way: read again for it
        return subscriber

    def _interval(self) -> float:
        if self.listening():
            return self.settings.live_safety_seconds
        return self.settings.live_poll_seconds

    async def _run(self) -> None:
        assert self._wake is not None
        try:
            while self._subscribers:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), self._interval())
                self._wake.clear()
                try:
                    await self._read_all()
                except Exception:  # the database is away: the timer tries again
                    log.warning("reading the job event log failed", exc_info=True)
        finally:
            self._read_to = None  # an idle hub reads nothing: its last read grows stale

    async def _read_all(self) -> None:
        batch = self.settings.live_batch_size
        while True:
            # Who was there when the read began: one who joins meanwhile woke the hub again.
            subscribers = list(self._subscribers)
            if not subscribers:
                return
            start = min(s.position for s in subscribers)
            async with self.db.read() as conn:
                entries = await tail(conn, start, batch)
            self.reads += 1
            if entries:
                self._fan_out(subscribers, entries)
            if len(entries) < batch:
                # Read up to the head: nothing settled lies beyond the last entry (or `start`).
                self._read_to = entries[-1].position if entries else start
                return

    def _fan_out(self, subscribers: list[_Subscriber], entries: list[Entry]) -> None:
        by_organization: dict[str, list[_Subscriber]] = defaultdict(list)
        for subscriber in subscribers:
            by_organization[subscriber.wanted.organization].append(subscriber)
        batches: dict[_Subscriber, list[Entry]] = defaultdict(list)
        for entry in entries:
            for subscriber in by_organization.get(entry.job.organization_id, ()):
                if entry.position > subscriber.position and subscriber.wanted.matches(entry):
                    batches[subscriber].append(entry)
        for subscriber, batch in batches.items():
            if not subscriber.ended:
                self._offer(subscriber, batch)
        last = entries[-1].position
        for subscriber in subscribers:
            subscriber.position = max(subscriber.position, last)

    def _offer(self, subscriber: _Subscriber, batch: list[Entry]) -> None:
        if subscriber.pending + len(batch) <= self.settings.live_queue_size:
            subscriber.queue.put_nowait(batch)
            subscriber.pending += len(batch)
            return
        # Too far behind: its memory is freed now; it learns why when it next reads.
        subscriber.ended = True
        self._subscribers.discard(subscriber)
        while not subscriber.queue.empty():
            subscriber.queue.get_nowait()
        subscriber.queue.put_nowait(_ENDED)

    async def close(self) -> None:
        if self.listener is not None:
            await self.listener.close()
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
