"""The job lifecycle as a rule table, and the transactions that move jobs along it.

Every transition is one transaction: a compare-and-set UPDATE on the job's current status,
and the JobEvent that records it. Two racing transitions cannot both win: the loser sees the
winner's status and is judged against the table again.

Lock order, on PostgreSQL: a job's queue row before its job row, in every path that takes
both (claims, worker reports, the sweeper, cancel and delete), so two of them never deadlock.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import Enum, StrEnum
from types import MappingProxyType
from typing import Any

from sqlalchemy import ColumnElement, Row, and_, delete, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from app.db.engine import EVENTS_WRITTEN, Database
from app.db.models import artifacts, job_events, job_queue, jobs, reports, taxonomies
from app.errors import Conflict, NotFound
from app.services import audit
from app.services.audit import AuditAction
from app.services.jobs import JobStatus
from app.services.verdicts import taxonomy_rows, verdict_rank

WAITING, IN_PROGRESS = JobStatus.WAITING, JobStatus.IN_PROGRESS
ACTIVE = frozenset({WAITING, IN_PROGRESS})
NOT_DELETED = frozenset(JobStatus) - {JobStatus.DELETED}


class Action(StrEnum):
    """What can happen to a job: users cancel and delete, workers do the rest."""

    START = "start"
    SUCCEED = "succeed"
    FAIL = "fail"
    TIME_OUT = "time out"
    CANCEL = "cancel"
    DELETE = "delete"
    # The three moves back to the queue: a worker shutting down gives its job back (no
    # attempt spent); a retryable failure with attempts left; a lease that expired.
    RELEASE = "release"
    RETRY = "retry"
    REQUEUE = "requeue"


class Outcome(Enum):
    APPLY = "apply"  # move the job to the rule's target
    SETTLED = "settled"  # already where the action leads: answer the job unchanged
    CONFLICT = "conflict"  # the action makes no sense from here


@dataclass(frozen=True, slots=True)
class Rule:
    """Moves a job from one of `sources` to `target`, stamping the date columns in `stamps`."""

    target: JobStatus
    sources: frozenset[JobStatus]
    settled: frozenset[JobStatus] = frozenset()
    stamps: tuple[str, ...] = ()

    def judge(self, status: str) -> Outcome:
        if status in self.sources:
            return Outcome.APPLY
        if status in self.settled:
            return Outcome.SETTLED
        return Outcome.CONFLICT


RULES: Mapping[Action, Rule] = MappingProxyType(
    {
        Action.START: Rule(IN_PROGRESS, frozenset({WAITING}), stamps=("start_date",)),
        Action.SUCCEED: Rule(JobStatus.SUCCESS, frozenset({IN_PROGRESS}), stamps=("end_date",)),
        Action.FAIL: Rule(JobStatus.FAILURE, frozenset({IN_PROGRESS}), stamps=("end_date",)),
        Action.TIME_OUT: Rule(JobStatus.TIMEOUT, frozenset({IN_PROGRESS}), stamps=("end_date",)),
        Action.CANCEL: Rule(
            JobStatus.CANCELLED, ACTIVE, frozenset({JobStatus.CANCELLED}), ("end_date",)
        ),
        Action.DELETE: Rule(JobStatus.DELETED, NOT_DELETED, frozenset({JobStatus.DELETED})),
        Action.RELEASE: Rule(WAITING, frozenset({IN_PROGRESS})),
        Action.RETRY: Rule(WAITING, frozenset({IN_PROGRESS})),
        Action.REQUEUE: Rule(WAITING, frozenset({IN_PROGRESS})),
    }
)
# Where the job's queue row goes when a transition lands on a status: finished jobs leave
# the queue; a stopped job that a worker holds keeps its row, flagged, so the worker's next
# heartbeat hears of it (the row goes when the worker answers or its lease runs out).
STOPPED = frozenset({JobStatus.CANCELLED, JobStatus.DELETED})


@dataclass(frozen=True, slots=True)
class Change:
    """One transition asked for: which job, by whom, and why (the event's message)."""

    organization: str
    job_id: str
    actor: str
    message: str | None = None


@dataclass(frozen=True, slots=True)
class ArtifactData:
    data_type: str
    tlp: int
    data: str | None = None
    attachment_id: str | None = None
    message: str | None = None
    tags: Sequence[str] = ()


@dataclass(frozen=True, slots=True)
class ReportData:
    """What a worker hands in when a job finishes."""

    success: bool
    taxonomies: Sequence[Mapping[str, str]] = ()
    full: Mapping[str, Any] | None = None
    error_message: str | None = None
    artifacts: Sequence[ArtifactData] = ()


# Written in the transaction of a transition that won, e.g. the report of a finish.
Extra = Callable[[AsyncConnection, Row[Any], datetime], Awaitable[None]]


async def transition(
    db: Database,
    action: Action,
    change: Change,
    *,
    extra: Extra | None = None,
    job_values: Mapping[str, Any] | None = None,
) -> Row[Any]:
    """Applies `action` to the job; returns the job as it now is.

    NotFound when the organization has no such job; Conflict (with `status`) when the table
    forbids the action from the job's current status.
    """
    async with db.write() as conn:
        if db.dialect == "postgresql":
            await lock_queue_row(conn, change.job_id)
        return await apply(conn, action, change, extra=extra, job_values=job_values)


async def apply(
    conn: AsyncConnection,
    action: Action,
    change: Change,
    *,
    extra: Extra | None = None,
    current: Row[Any] | None = None,
    job_values: Mapping[str, Any] | None = None,
) -> Row[Any]:
    """`transition` inside a transaction the caller holds (and has locked the queue row in);
    `current` is the job as the caller just read it under its lock, so it is not read again;
    `job_values` are columns the winning compare-and-set writes too (a report's verdict)."""
    # No job lock is taken before judging: the compare-and-set is the guard. A lost round
    # means another writer moved the status on, so the next round judges the new status;
    # a handful of rounds always settle it (only workers, under a lease, move jobs back).
    for _ in range(len(JobStatus)):
        job = await _attempt(conn, action, change, extra, current, job_values)
        if job is not None:
            return job
        current = None  # another writer got in first: read the job again
    raise RuntimeError(f"job {change.job_id} kept changing during {action}")


async def lock_queue_row(conn: AsyncConnection, job_id: str) -> Row[Any] | None:
    """The job's queue row, locked (PostgreSQL) before its job row: see the lock order above."""
    query = select(*job_queue.c).where(job_queue.c.job_id == job_id)
    if conn.dialect.name == "postgresql":
        query = query.with_for_update()
    return (await conn.execute(query)).one_or_none()


async def _attempt(
    conn: AsyncConnection,
    action: Action,
    change: Change,
    extra: Extra | None,
    current: Row[Any] | None = None,
    job_values: Mapping[str, Any] | None = None,
) -> Row[Any] | None:
    """One round: the job as the action leaves it, or None when another writer got in first."""
    rule = RULES[action]
    current = current or await find_job(conn, change)
    outcome = rule.judge(current.status)
    if outcome is Outcome.SETTLED:
        return current
    if outcome is Outcome.CONFLICT:
        raise Conflict(f"Cannot {action} a job that is {current.status}", status=current.status)
    moved = await _compare_and_set(conn, rule, change, current, job_values or {})
    if moved is None:
        return None
    await _record(conn, change, moved, previous=current.status)
    await _follow_in_queue(conn, moved)
    if extra is not None:
        await extra(conn, moved, moved.updated_at)
    return moved


async def _follow_in_queue(conn: AsyncConnection, moved: Row[Any]) -> None:
    """Finished jobs leave the queue; a claimed job that is stopped is flagged for its worker.
    Moves back to WAITING re-queue the row themselves (app/services/queue.py)."""
    if moved.status == WAITING:
        return
    row = job_queue.c.job_id == moved.id
    if moved.status in STOPPED:
        flag = update(job_queue).where(row, job_queue.c.state == "CLAIMED")
        await conn.execute(flag.values(cancel_requested=True))
        await conn.execute(delete(job_queue).where(row, job_queue.c.state == "QUEUED"))
    elif moved.status != IN_PROGRESS:
        await conn.execute(delete(job_queue).where(row))


def where_job(change: Change) -> ColumnElement[bool]:
    return and_(jobs.c.id == change.job_id, jobs.c.organization_id == change.organization)


async def find_job(conn: AsyncConnection, change: Change, *, lock: bool = False) -> Row[Any]:
    """The job, or NotFound; `lock` holds its row (PostgreSQL) until the transaction ends.

    SQLite needs no row lock: BEGIN IMMEDIATE already lets one writer in at a time.
    """
    query = select(*jobs.c).where(where_job(change))
    row = (await conn.execute(query.with_for_update() if lock else query)).one_or_none()
    if row is None:
        # The same answer for an unknown id and another organization's job.
        raise NotFound("No such job", argument="id")
    return row


async def _compare_and_set(
    conn: AsyncConnection,
    rule: Rule,
    change: Change,
    current: Row[Any],
    job_values: Mapping[str, Any],
) -> Row[Any] | None:
    # Never before the last change, even when two hosts' clocks differ, so a job's events
    # stay in time order (a win means nobody changed the row since `current` was read).
    now = max(datetime.now(UTC), current.updated_at or current.created_at)
    values: dict[str, Any] = {"status": rule.target.value, "updated_at": now}
    values |= {"updated_by": change.actor, **{stamp: now for stamp in rule.stamps}}
    values |= job_values
    query = (
        update(jobs)
        .where(where_job(change), jobs.c.status == current.status)
        .values(values)
        .returning(*jobs.c)
    )
    return (await conn.execute(query)).one_or_none()


async def _record(conn: AsyncConnection, change: Change, moved: Row[Any], *, previous: str) -> None:
    await record_events(conn, [event_of(moved, previous, change.actor, change.message)])


def event_of(
    job: Row[Any], previous: str | None, actor: str, message: str | None
) -> dict[str, Any]:
    """The event row of a job that just entered its status."""
    return {
        "job_id": job.id,
        "at": job.updated_at or job.created_at,
        "status": job.status,
        "previous_status": previous,
        "actor": actor,
        "message": message,
        "attempt": job.attempt,
    }


async def record_events(conn: AsyncConnection, events: Sequence[Mapping[str, Any]]) -> None:
    """Writes the events of transitions made in this transaction: the one way events are
    written one by one (bulk deletes write theirs with INSERT … SELECT)."""
    if events:
        await conn.execute(insert(job_events), list(events))
        mark_events_written(conn)


def mark_events_written(conn: AsyncConnection) -> None:
    """Tells Database.write() to wake this process's live readers once this commits."""
    conn.info[EVENTS_WRITTEN] = True


# The user-side transitions.


async def cancel_job(
    db: Database, *, organization: str, job_id: str, actor: str, reason: str | None = None
) -> Row[Any]:
    return await transition(db, Action.CANCEL, Change(organization, job_id, actor, reason))


async def delete_job(db: Database, *, organization: str, job_id: str, actor: str) -> Row[Any]:
    """Soft: the job is DELETED, its data stays."""
    return await transition(db, Action.DELETE, Change(organization, job_id, actor))


# The worker-side transitions: for tests (and seeds) now, for the worker API later.


async def start_job(db: Database, *, organization: str, job_id: str, worker: str) -> Row[Any]:
    return await transition(db, Action.START, Change(organization, job_id, worker))


async def finish_job(
    db: Database, *, organization: str, job_id: str, worker: str, report: ReportData
) -> Row[Any]:
    """SUCCESS (FAILURE if not `report.success`) with the report, in one transaction; if the
    job was cancelled or deleted meanwhile, a Conflict and nothing is written."""
    action = Action.SUCCEED if report.success else Action.FAIL
    change = Change(organization, job_id, worker, report.error_message)
    writer, values = report_writer(report), report_values(report)
    return await transition(db, action, change, extra=writer, job_values=values)


async def fail_job(
    db: Database, *, organization: str, job_id: str, worker: str, error_message: str
) -> Row[Any]:
    report = ReportData(success=False, error_message=error_message)
    return await finish_job(
        db, organization=organization, job_id=job_id, worker=worker, report=report
    )


async def time_out_job(
    db: Database,
    *,
    organization: str,
    job_id: str,
    worker: str,
    error_message: str = "Timeout: the analyzer ran too long",
) -> Row[Any]:
    report = ReportData(success=False, error_message=error_message)
    change = Change(organization, job_id, worker, error_message)
    return await transition(db, Action.TIME_OUT, change, extra=report_writer(report))


def report_writer(report: ReportData) -> Extra:
    async def write(conn: AsyncConnection, job: Row[Any], at: datetime) -> None:
        await conn.execute(
            insert(reports).values(
                job_id=job.id,
                success=report.success,
                taxonomies=[dict(t) for t in report.taxonomies],
                full=dict(report.full) if report.full is not None else None,
                error_message=report.error_message,
                created_at=at,
            )
        )
        if report.taxonomies:
            await conn.execute(insert(taxonomies), taxonomy_rows(job.id, report.taxonomies))
        if report.artifacts:
            await conn.execute(insert(artifacts), [_artifact(job.id, a) for a in report.artifacts])

    return write


def report_values(report: ReportData) -> dict[str, Any]:
    """What a finish with `report` writes on the job row itself: its verdict."""
    return {"verdict": verdict_rank(report.taxonomies)}


def _artifact(job_id: str, artifact: ArtifactData) -> dict[str, Any]:
    return {
        "job_id": job_id,
        "data_type": artifact.data_type,
        "data": artifact.data,
        "attachment_id": artifact.attachment_id,
        "tlp": artifact.tlp,
        "message": artifact.message,
        "tags": list(artifact.tags),
    }


async def cancel_matching(
    db: Database,
    *,
    organization: str,
    predicate: ColumnElement[bool],
    actor: str,
    reason: str | None = None,
    details: dict[str, Any] | None = None,
) -> list[str]:
    """Cancels the organization's WAITING and IN_PROGRESS jobs that match, each with its
    event, in one transaction with its audit event; returns their ids. A job that moved on
    meanwhile is left."""
    active = [status.value for status in ACTIVE]
    query = select(jobs.c.id).where(
        jobs.c.organization_id == organization, jobs.c.status.in_(active), predicate
    )
    cancelled = []
    async with db.write() as conn:
        for job_id in list((await conn.execute(query.order_by(jobs.c.id))).scalars()):
            if conn.dialect.name == "postgresql":
                await lock_queue_row(conn, job_id)
            change = Change(organization, job_id, actor, reason)
            try:
                moved = await _attempt(conn, Action.CANCEL, change, None)
            except Conflict:  # it finished between the listing and its turn
                continue
            if moved is not None and moved.status == JobStatus.CANCELLED:
                cancelled.append(job_id)
        await audit.record(
            conn,
            organization=organization,
            actor=actor,
            action=AuditAction.CANCEL_JOBS,
            count=len(cancelled),
            details={**(details or {}), "reason": reason},
        )
    return cancelled
