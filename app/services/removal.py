"""Removing jobs: bulk soft delete of finished jobs, and purge (rows, then unused blobs).

Both are set-based SQL in one transaction; their SQL differs by dialect where the two
databases differ (data-modifying CTEs, RETURNING of old values).
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Row,
    and_,
    delete,
    exists,
    func,
    insert,
    literal,
    select,
    true,
    update,
)
from sqlalchemy.ext.asyncio import AsyncConnection

from app.blobs import BlobStore
from app.db.engine import Database
from app.db.models import artifacts, attachments, job_events, jobs
from app.db.types import UTCDateTime
from app.services import audit
from app.services.attachments import remove_unused_blobs
from app.services.audit import AuditAction
from app.services.jobs import FINISHED, JobStatus
from app.services.lifecycle import (
    RULES,
    Action,
    Change,
    find_job,
    mark_events_written,
    where_job,
)

log = logging.getLogger("jobql.removal")
BULK_DELETE_MESSAGE = "bulk delete"
# Bulk delete is the table's DELETE narrowed to finished jobs: a running job is deleted
# one at a time, on purpose, never swept up by a filter.
BULK_DELETABLE = FINISHED & RULES[Action.DELETE].sources


async def delete_jobs(
    db: Database,
    *,
    organization: str,
    predicate: ColumnElement[bool],
    actor: str,
    details: dict[str, Any] | None = None,
) -> int:
    """Soft-deletes the organization's finished jobs that match; returns how many. The
    audit event (with `details`: the condition as given) is written in the same transaction."""
    where = and_(
        jobs.c.organization_id == organization,
        jobs.c.status.in_([s.value for s in BULK_DELETABLE]),
        predicate,
    )

    async def transaction() -> int:
        async with db.write() as conn:
            mark_events_written(conn)
            if db.dialect == "postgresql":
                deleted = await _delete_jobs_postgres(conn, where, actor)
            else:
                deleted = await _delete_jobs_sqlite(conn, where, actor)
            await audit.record(
                conn,
                organization=organization,
                actor=actor,
                action=AuditAction.DELETE_JOBS,
                count=deleted,
                details=details,
            )
        return deleted

    # Two bulk deletes lock rows in the same (id) order, so they queue rather than deadlock;
    # a single-job writer may still take its rows the other way round: then run it again.
    return await db.retrying_deadlocks(transaction)


def _deleted(at: Any, actor: str) -> dict[str, Any]:
    return {"status": JobStatus.DELETED.value, "updated_at": at, "updated_by": actor}


def _events(job_id: Any, at: Any, previous: Any, actor: str, where: Any) -> Any:
    """INSERT … SELECT of one bulk-delete event per selected job."""
    columns = select(
        job_id,
        at,
        literal(JobStatus.DELETED.value),
        previous,
        literal(actor),
        literal(BULK_DELETE_MESSAGE),
    ).where(where)
    names = ("job_id", "at", "status", "previous_status", "actor", "message")
    return insert(job_events).from_select(names, columns)


async def _delete_jobs_postgres(
    conn: AsyncConnection, where: ColumnElement[bool], actor: str
) -> int:
    # One statement: lock the matching rows, update them, and log each with the status it
    # had (RETURNING shows only new values, hence the locked "old" rows joined in). Rows are
    # locked while the statement runs, so the time never precedes a change made just before.
    now = literal(datetime.now(UTC), UTCDateTime())
    old = (
        select(jobs.c.id, jobs.c.status)
        .where(where)
        .order_by(jobs.c.id)
        .with_for_update(of=jobs)
        .cte("old")
    )
    at = func.greatest(now, jobs.c.updated_at, type_=UTCDateTime())
    changed = (
        update(jobs)
        .where(jobs.c.id == old.c.id)
        .values(_deleted(at, actor))
        .returning(jobs.c.id, jobs.c.updated_at, old.c.status.label("previous"))
        .cte("changed")
    )
    statement = _events(changed.c.id, changed.c.updated_at, changed.c.previous, actor, true())
    return (await conn.execute(statement.add_cte(old, changed))).rowcount


async def _delete_jobs_sqlite(conn: AsyncConnection, where: ColumnElement[bool], actor: str) -> int:
    # SQLite has no data-modifying CTE and RETURNING shows only new values; two statements
    # see the same rows because BEGIN IMMEDIATE keeps every other writer out in between
    # (which also makes a time taken now later than any change already committed).
    now = datetime.now(UTC)
    events = _events(jobs.c.id, literal(now, UTCDateTime()), jobs.c.status, actor, where)
    logged = (await conn.execute(events)).rowcount
    deleted = await conn.execute(update(jobs).where(where).values(_deleted(now, actor)))
    if deleted.rowcount != logged:  # cannot happen under the write lock; roll back if it does
        raise RuntimeError("bulk delete: events and jobs disagree")
    return deleted.rowcount


async def purge_job(
    db: Database, blobs: BlobStore, *, organization: str, job_id: str, actor: str
) -> None:
    """Removes the job with its report, artifacts and events, the attachments no other row
    uses, and then the blob files no attachment uses any more."""
    change = Change(organization, job_id, actor)
    async with db.write() as conn:
        # Locked, so no worker adds an artifact (and an attachment to free) meanwhile.
        job = await find_job(conn, change, lock=True)
        candidates = await _attachments_of(conn, job)
        # report, artifact and job_event go with it: ON DELETE CASCADE (foreign_keys=ON).
        await conn.execute(delete(jobs).where(where_job(change)))
        freed = await _drop_unused_attachments(conn, organization, candidates)
        await audit.record(
            conn,
            organization=organization,
            actor=actor,
            action=AuditAction.PURGE_JOB,
            target=job_id,
            count=1,
            details={"analyzer": job.analyzer_name, "status": job.status},
        )
    log.info("job %s of %s purged by %s", job_id, organization, actor)
    # Only after commit: a rolled-back purge must not have lost any file. Under the contents'
    # locks, so an upload of the same bytes racing this purge keeps its file.
    await remove_unused_blobs(db, blobs, freed)


async def _attachments_of(conn: AsyncConnection, job: Row[Any]) -> set[str]:
    query = select(artifacts.c.attachment_id).where(
        artifacts.c.job_id == job.id, artifacts.c.attachment_id.is_not(None)
    )
    found = set((await conn.execute(query)).scalars())
    return found | ({job.attachment_id} if job.attachment_id else set())


async def _drop_unused_attachments(
    conn: AsyncConnection, organization: str, candidates: set[str]
) -> set[str]:
    """Deletes the candidates no job or artifact refers to; returns their sha256s."""
    if not candidates:
        return set()
    if conn.dialect.name == "postgresql":
        # A statement of its own, before the check: it waits for a submission holding one of
        # them (FOR SHARE, app/services/submission.py) to commit, and the DELETE after it then
        # sees that submission's job and keeps the attachment. Checked in the same statement,
        # the NOT EXISTS would use the snapshot from before the wait and delete a row the new
        # job points at (a foreign-key violation).
        lock = select(attachments.c.id).where(attachments.c.id.in_(sorted(candidates)))
        await conn.execute(lock.order_by(attachments.c.id).with_for_update())
    query = (
        delete(attachments)
        .where(
            attachments.c.id.in_(candidates),
            attachments.c.organization_id == organization,
            ~exists().where(jobs.c.attachment_id == attachments.c.id),
            ~exists().where(artifacts.c.attachment_id == attachments.c.id),
        )
        .returning(attachments.c.sha256)
    )
    return set((await conn.execute(query)).scalars())
