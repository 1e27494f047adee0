"""Live updates in the API: the subscriptions, and the polling fallback on the same cursor."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncGenerator, Sequence
from datetime import datetime
from enum import Enum
from typing import Annotated

import strawberry
from starlette.websockets import WebSocket

from app import metrics
from app.auth import Role
from app.errors import BadUserInput
from app.graphql.context import Info
from app.graphql.permissions import guarded
from app.graphql.types import Job, JobEvent, JobStatus, PageInfo
from app.services import jobs, worker_signals
from app.services.eventlog import HEAD, Entry, LogFilter, Position, decode, page
from app.services.eventlog import check_depth as check_replay_depth

MAX_IDS = 100
MAX_WAIT_SECONDS = 8

Ids = Annotated[
    list[strawberry.ID] | None,
    strawberry.argument(description="Only these jobs (at most 100)."),
]
AnalyzerIds = Annotated[
    list[strawberry.ID] | None,
    strawberry.argument(description="Only jobs of these analyzers (at most 100)."),
]
DataTypes = Annotated[
    list[str] | None, strawberry.argument(description="Only jobs of these data types.")
]
Statuses = Annotated[
    list[JobStatus] | None,  # type: ignore[valid-type]
    strawberry.argument(description="Only events that enter one of these statuses."),
]


@strawberry.type(description="One event of the job event log, with its job as it is now.")
class JobUpdate:
    cursor: str = strawberry.field(description="Resume right after this update.")
    event: JobEvent = strawberry.field(description="What happened.")
    job: Job = strawberry.field(description="The job, read when the update was delivered.")

    @classmethod
    def of(cls, entry: Entry) -> JobUpdate:
        return cls(
            cursor=entry.cursor, event=JobEvent.from_row(entry.event), job=Job.from_row(entry.job)
        )


@strawberry.type(description="An update and its cursor.")
class JobUpdateEdge:
    cursor: str = strawberry.field(description="Resume right after this update.")
    node: JobUpdate = strawberry.field(description="The update.")


@strawberry.type(description="A page of the job event log, oldest first.")
class JobUpdateConnection:
    edges: list[JobUpdateEdge] = strawberry.field(description="The updates, oldest first.")
    page_info: PageInfo = strawberry.field(
        description="`endCursor` is where the next poll starts: past every event of other "
        "organizations too, so it moves on even when this page is empty."
    )


@strawberry.type(description="A job's status as it is now.")
class JobStatusEntry:
    id: strawberry.ID = strawberry.field(description="The id asked for.")
    status: JobStatus | None = strawberry.field(  # type: ignore[valid-type]
        description="null when there is no such job in the organization."
    )
    updated_at: datetime | None = strawberry.field(description="When it last changed.")


def _set(values: Sequence[str] | None, argument: str) -> frozenset[str] | None:
    if values is None:
        return None
    if len(values) > MAX_IDS:
        raise BadUserInput(f"{argument}: at most {MAX_IDS} values", argument=argument)
    return frozenset(str(v) for v in values)


def log_filter(
    info: Info,
    ids: Sequence[str] | None = None,
    analyzer_ids: Sequence[str] | None = None,
    data_types: Sequence[str] | None = None,
    statuses: Sequence[JobStatus] | None = None,  # type: ignore[valid-type]
) -> LogFilter:
    status_values = None if statuses is None else [str(s.value) for s in statuses]  # type: ignore[attr-defined]
    return LogFilter(
        info.context.principal.organization,
        job_ids=_set(ids, "ids"),
        analyzer_ids=_set(analyzer_ids, "analyzerIds"),
        data_types=_set(data_types, "dataTypes"),
        statuses=_set(status_values, "statuses"),
    )


def start_of(after: str | None, argument: str = "after") -> Position | None:
    """None for HEAD (from now on); the position a cursor names otherwise."""
    return None if after == HEAD else decode(after or "", argument)


async def updates(
    info: Info, wanted: LogFilter, after: Position | None, *, check: bool = True
) -> AsyncGenerator[JobUpdate, None]:
    context = info.context
    stream = context.live.stream(wanted, after, key=context.key_id, check=check)
    with _running(info):
        async with contextlib.aclosing(stream):
            async for entry in stream:
                context.renew_loaders()  # relations of this update read as they are now
                yield JobUpdate.of(entry)


def _running(info: Info) -> contextlib.AbstractContextManager[None]:
    """The subscription counted in jobql_subscriptions, by transport, while it runs."""
    transport = "websocket" if isinstance(info.context.request, WebSocket) else "sse"
    return metrics.subscription_running(transport)


@strawberry.enum(description="What a worker is told live.")
class WorkerSignalKind(Enum):
    CANCEL = strawberry.enum_value(
        "CANCEL", description="A job the worker holds was cancelled or deleted: stop it."
    )
    JOBS_AVAILABLE = strawberry.enum_value(
        "JOBS_AVAILABLE", description="Work arrived for one of its analyzers: claim now."
    )


@strawberry.type(description="A live signal to a worker; its heartbeat and claims stay the truth.")
class WorkerSignal:
    kind: WorkerSignalKind = strawberry.field(description="What happened.")
    job_id: strawberry.ID | None = strawberry.field(description="The job concerned.")
    analyzer_id: strawberry.ID | None = strawberry.field(description="Its analyzer.")


def _worker_signal(signal: worker_signals.Signal) -> WorkerSignal:
    return WorkerSignal(
        kind=WorkerSignalKind(signal.kind),
        job_id=strawberry.ID(signal.job_id) if signal.job_id else None,
        analyzer_id=strawberry.ID(signal.analyzer_id) if signal.analyzer_id else None,
    )


@strawberry.type(description="Live updates: everything that happens to the organization's jobs.")
class Subscription:
    @strawberry.subscription(
        description="A worker's live signals: CANCEL for a job it holds, at once; "
        "JOBS_AVAILABLE when work arrives for the analyzers it claims for. A lost signal "
        "delays, never misleads: heartbeats and claims still say the same.",
        extensions=guarded(Role.WORKER),
    )
    async def worker_control(
        self,
        info: Info,
        worker_id: Annotated[
            str, strawberry.argument(description="The id the worker claims with.")
        ],
    ) -> AsyncGenerator[WorkerSignal, None]:
        context = info.context
        stream = worker_signals.signals(
            context.live, context.principal.organization, worker_id, key=context.key_id
        )
        with _running(info):
            async with contextlib.aclosing(stream):
                async for signal in stream:
                    yield _worker_signal(signal)

    @strawberry.subscription(
        description='The organization\'s job events as they commit. `after: "HEAD"`: only '
        "what happens from now on; a cursor: everything after it (replayed), then live. "
        "Filters narrow the stream; a subscriber too slow to read is ended with "
        "SUBSCRIBER_TOO_SLOW and its cursor; a cursor past the replay depth is CURSOR_EXPIRED."
    )
    async def job_updates(
        self,
        info: Info,
        after: Annotated[str | None, strawberry.argument(description='"HEAD" or a cursor.')] = HEAD,
        ids: Ids = None,
        analyzer_ids: AnalyzerIds = None,
        data_types: DataTypes = None,
        statuses: Statuses = None,
    ) -> AsyncGenerator[JobUpdate, None]:
        wanted = log_filter(info, ids, analyzer_ids, data_types, statuses)
        async for update in updates(info, wanted, start_of(after or HEAD)):
            yield update

    @strawberry.subscription(
        description="One job's events: from its first (after null) or after a cursor, then live."
    )
    async def job_events(
        self,
        info: Info,
        job_id: Annotated[strawberry.ID, strawberry.argument(description="The job.")],
        after: Annotated[
            str | None, strawberry.argument(description="A cursor; null: from the start.")
        ] = None,
    ) -> AsyncGenerator[JobUpdate, None]:
        wanted = log_filter(info, ids=[job_id])
        # From the start, one job's events are few: no replay depth to apply.
        start = Position(0, 0) if after is None else start_of(after)
        async for update in updates(info, wanted, start, check=after is not None):
            yield update


@strawberry.type
class LiveQuery:
    @strawberry.field(
        description="The polling fallback of Subscription.jobUpdates: the same stream, on the "
        "same cursors. Poll again from `pageInfo.endCursor`."
    )
    async def job_updates(
        self,
        info: Info,
        after: Annotated[str, strawberry.argument(description='A cursor, or "HEAD".')],
        first: Annotated[int, strawberry.argument(description="At most 100.")] = 100,
        ids: Ids = None,
        analyzer_ids: AnalyzerIds = None,
        data_types: DataTypes = None,
        statuses: Statuses = None,
    ) -> JobUpdateConnection:
        if not 1 <= first <= info.context.settings.max_page_size:
            limit = info.context.settings.max_page_size
            raise BadUserInput(f"first: 1 to {limit}", argument="first")
        wanted = log_filter(info, ids, analyzer_ids, data_types, statuses)
        start = start_of(after)
        if start is None:
            return _connection([], await info.context.live.head(), full=False)
        async with info.context.db.read() as conn:
            await check_replay_depth(conn, start, info.context.settings.live_replay_depth)
        async with info.context.db.read() as conn:
            got = await page(conn, start, wanted, first)
        return _connection(got.entries, got.end, full=len(got.entries) == first)

    @strawberry.field(description="Many jobs' statuses at once (at most 100 ids), one statement.")
    async def job_statuses(
        self,
        info: Info,
        ids: Annotated[list[strawberry.ID], strawberry.argument(description="Job ids.")],
    ) -> list[JobStatusEntry]:
        _set(ids, "ids")
        found = await jobs.jobs_by_id(info.context.db, _scope(info), list(dict.fromkeys(ids)))
        return [_status_entry(job_id, found.get(job_id)) for job_id in ids]

    @strawberry.field(
        description="The job once its status is one of `until` (default: the finished "
        "statuses), or as it is when `timeoutSeconds` (at most 8) ran out; null when absent."
    )
    async def wait_job(
        self,
        info: Info,
        id: Annotated[strawberry.ID, strawberry.argument(description="The job.")],
        timeout_seconds: Annotated[int, strawberry.argument(description="0 to 8 seconds.")] = 5,
        until: Statuses = None,
    ) -> Job | None:
        if not 0 <= timeout_seconds <= MAX_WAIT_SECONDS:
            message = f"timeoutSeconds: 0 to {MAX_WAIT_SECONDS}"
            raise BadUserInput(message, argument="timeoutSeconds")
        wanted = {str(s.value) for s in until or jobs.FINISHED}
        hub = info.context.live
        head = await hub.head()  # before reading the job: nothing happens in between unseen
        row = (await jobs.jobs_by_id(info.context.db, _scope(info), [id])).get(id)
        if row is None or row.status in wanted or timeout_seconds == 0:
            return Job.from_row(row) if row else None
        one = log_filter(info, ids=[id])
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(timeout_seconds):
                stream = hub.stream(one, head, key=info.context.key_id, check=False)
                async with contextlib.aclosing(stream):
                    async for entry in stream:
                        if entry.event.status in wanted:
                            break
        row = (await jobs.jobs_by_id(info.context.db, _scope(info), [id])).get(id)
        return Job.from_row(row) if row else None


def _scope(info: Info) -> jobs.JobScope:
    return jobs.JobScope(info.context.principal.organization, include_deleted=True)


def _status_entry(job_id: str, row: object | None) -> JobStatusEntry:
    if row is None:
        return JobStatusEntry(id=strawberry.ID(job_id), status=None, updated_at=None)
    status = JobStatus(row.status)  # type: ignore[attr-defined]
    at = row.updated_at or row.created_at  # type: ignore[attr-defined]
    return JobStatusEntry(id=strawberry.ID(job_id), status=status, updated_at=at)


def _connection(entries: Sequence[Entry], end: Position, *, full: bool) -> JobUpdateConnection:
    edges = [JobUpdateEdge(cursor=e.cursor, node=JobUpdate.of(e)) for e in entries]
    info = PageInfo(
        start_cursor=edges[0].cursor if edges else None,
        end_cursor=end.cursor,
        rows=None,
        batch=None,
        group=None,
        known=(full, False),
    )
    return JobUpdateConnection(edges=edges, page_info=info)
