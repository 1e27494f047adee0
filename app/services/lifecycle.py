"""The job lifecycle as a rule table, and the transactions that move jobs along it.

Every transition is one transaction: a compare-and-set UPDATE on the job's current status,
and the JobEvent that records it. Two racing transitions cannot both win: the loser sees the
winner's status and is judged against the table again.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import Enum, StrEnum
from types import MappingProxyType
from typing import Any

from sqlalchemy import ColumnElement, Row, and_, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from app.db.engine import Database
from app.db.models import artifacts, job_events, jobs, reports
from app.errors import Conflict, NotFound
from app.services.jobs import JobStatus

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
    }
)


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
    db: Database, action: Action, change: Change, *, extra: Extra | None = None
) -> Row[Any]:
    """Applies `action` to the job; returns the job as it now is.

    NotFound when the organization has no such job; Conflict (with `status`) when the table
    forbids the action from the job's current status.
    """
    async with db.write() as conn:
        # No lock is taken before judging: the compare-and-set is the guard. A lost round
        # means another writer moved the status forward (statuses never go back), so the
        # next round judges the new status, and a handful of rounds always settle it.
        for _ in range(len(JobStatus)):
            job = await _attempt(conn, action, change, extra)
            if job is not None:
                return job
    raise RuntimeError(f"job {change.job_id} kept changing during {action}")


async def _attempt(
    conn: AsyncConnection, action: Action, change: Change, extra: Extra | None
) -> Row[Any] | None:
    """One round: the job as the action leaves it, or None when another writer got in first."""
    rule = RULES[action]
    current = await find_job(conn, change)
    outcome = rule.judge(current.status)
    if outcome is Outcome.SETTLED:
        return current
    if outcome is Outcome.CONFLICT:
        raise Conflict(f"Cannot {action} a job that is {current.status}", status=current.status)
    moved = await _compare_and_set(conn, rule, change, current)
    if moved is None:
        return None
    await _record(conn, change, moved, previous=current.status)
    if extra is not None:
        await extra(conn, moved, moved.updated_at)
    return moved


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
    conn: AsyncConnection, rule: Rule, change: Change, current: Row[Any]
) -> Row[Any] | None:
    # Never before the last change, even when two hosts' clocks differ, so a job's events
    # stay in time order (a win means nobody changed the row since `current` was read).
    now = max(datetime.now(UTC), current.updated_at or current.created_at)
    values: dict[str, Any] = {"status": rule.target.value, "updated_at": now}
    values |= {"updated_by": change.actor, **{stamp: now for stamp in rule.stamps}}
    query = (
        update(jobs)
        .where(where_job(change), jobs.c.status == current.status)
        .values(values)
        .returning(*jobs.c)
    )
    return (await conn.execute(query)).one_or_none()


async def _record(conn: AsyncConnection, change: Change, moved: Row[Any], *, previous: str) -> None:
    await conn.execute(
        insert(job_events).values(
            job_id=moved.id,
            at=moved.updated_at,
            status=moved.status,
            previous_status=previous,
            actor=change.actor,
            message=change.message,
        )
    )


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
    return await transition(db, action, change, extra=_report_writer(report))


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
    return await transition(db, Action.TIME_OUT, change, extra=_report_writer(report))


def _report_writer(report: ReportData) -> Extra:
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
        if report.artifacts:
            await conn.execute(insert(artifacts), [_artifact(job.id, a) for a in report.artifacts])

    return write


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
