"""Submitting jobs: checks, the job cache, in-flight de-duplication and idempotency keys.

The cache key is a digest of the canonical input: organization, analyzer, dataType, tlp, the
data or the file's sha256 (never the attachment id: the same file uploaded twice is the same
input), and the parameters with sorted keys. Unless `force`, a submission first returns an
identical job still WAITING or IN_PROGRESS (`deduplicated`), else the newest identical
SUCCESS job that ended within the analyzer's cache window (`from_cache`). Identical
submissions are serialized on their key (a transaction-scoped advisory lock on PostgreSQL; the
single writer on SQLite), so fifty at once make one job.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
from sqlalchemy import Row, func, insert, select, text
from sqlalchemy.ext.asyncio import AsyncConnection

from app.db.engine import Database
from app.db.ids import new_id
from app.db.models import analyzers, attachments, idempotency_keys, job_queue, jobs
from app.errors import BadUserInput, Conflict, DomainError
from app.services.jobs import JobStatus
from app.services.lifecycle import event_of, record_events
from app.services.queue import PRIORITY_RANK, QUEUED

DEFAULT_CACHE_MINUTES = 10
MAX_MESSAGE_LENGTH = 10_000
MAX_DATA_LENGTH = 100_000
MAX_PARAMETERS_BYTES = 64 * 1024
MAX_BATCH = 100
FILE = "file"


class RateLimited(DomainError):
    """The analyzer's queue is past its depth cap: the one refusal of a submission."""

    code = "RATE_LIMITED"


@dataclass(frozen=True, slots=True)
class Submission:
    analyzer_id: str
    data_type: str
    data: str | None = None
    attachment_id: str | None = None
    tlp: int = 2
    pap: int = 2
    message: str = ""
    parameters: Mapping[str, Any] = field(default_factory=dict)
    priority: str = "NORMAL"
    force: bool = False
    idempotency_key: str | None = None


@dataclass(frozen=True, slots=True)
class Submitted:
    job: Row[Any]
    from_cache: bool = False
    deduplicated: bool = False
    replayed: bool = False
    cache_age_seconds: int | None = None


def cache_key(
    *,
    organization: str,
    analyzer_id: str,
    data_type: str,
    tlp: int,
    data: str | None,
    file_sha256: str | None,
    parameters: Mapping[str, Any],
) -> str:
    """The job cache's key: equal for equal canonical inputs, whatever the attachment id."""
    observable = ["file", file_sha256] if file_sha256 is not None else ["data", data]
    canonical = [organization, analyzer_id, data_type, tlp, observable, parameters]
    return hashlib.sha256(orjson.dumps(canonical, option=orjson.OPT_SORT_KEYS)).hexdigest()


def _input_digest(submission: Submission) -> str:
    """What an idempotency key promises: the same input, every field of it (bar the key)."""
    fields = {k: getattr(submission, k) for k in Submission.__slots__ if k != "idempotency_key"}
    fields["parameters"] = dict(submission.parameters)
    return hashlib.sha256(orjson.dumps(fields, option=orjson.OPT_SORT_KEYS)).hexdigest()


def check(submission: Submission) -> None:
    """BadUserInput for what can be told wrong without the database."""
    if (submission.data is None) == (submission.attachment_id is None):
        raise BadUserInput(
            "Give exactly one of data (the observable) and attachmentId (a file from "
            "POST /attachments)",
            argument="input.data",
        )
    if submission.attachment_id is not None and submission.data_type != FILE:
        raise BadUserInput('attachmentId needs dataType "file"', argument="input.dataType")
    if submission.data is not None and submission.data_type == FILE:
        raise BadUserInput('dataType "file" takes an attachmentId, not data', argument="input.data")
    if submission.data is not None and not 0 < len(submission.data) <= MAX_DATA_LENGTH:
        raise BadUserInput(f"data: 1 to {MAX_DATA_LENGTH} characters", argument="input.data")
    for name in ("tlp", "pap"):
        if not 0 <= getattr(submission, name) <= 3:
            raise BadUserInput(f"{name}: 0 to 3", argument=f"input.{name}")
    if len(submission.message) > MAX_MESSAGE_LENGTH:
        message = f"message: at most {MAX_MESSAGE_LENGTH} characters"
        raise BadUserInput(message, argument="input.message")
    _check_parameters(submission.parameters)
    key = submission.idempotency_key
    if key is not None and not (0 < len(key) <= 255 and key.isascii() and key.isprintable()):
        raise BadUserInput(
            "idempotencyKey: 1 to 255 visible ASCII characters", argument="input.idempotencyKey"
        )


def _check_parameters(parameters: Any) -> None:
    if not isinstance(parameters, Mapping):
        raise BadUserInput("parameters: a JSON object", argument="input.parameters")
    if len(orjson.dumps(parameters)) > MAX_PARAMETERS_BYTES:
        message = f"parameters: at most {MAX_PARAMETERS_BYTES} bytes of JSON"
        raise BadUserInput(message, argument="input.parameters")


async def submit(
    db: Database, *, organization: str, actor: str, submission: Submission
) -> Submitted:
    """The job for this submission: a new WAITING one, or the one the rules above return."""
    check(submission)
    async with db.write() as conn:
        if submission.idempotency_key is not None:
            await _serialize(conn, organization, "idempotency", submission.idempotency_key)
            replay = await _replay(conn, organization, submission)
            if replay is not None:
                return replay
        analyzer = await _analyzer(conn, organization, submission)
        sha256 = await _file_sha256(conn, organization, submission)
        key = cache_key(
            organization=organization,
            analyzer_id=analyzer.id,
            data_type=submission.data_type,
            tlp=submission.tlp,
            data=submission.data,
            file_sha256=sha256,
            parameters=submission.parameters,
        )
        submitted = await _reuse_or_create(conn, organization, actor, submission, analyzer, key)
        if submission.idempotency_key is not None:
            await _remember(conn, organization, submission, submitted)
    return submitted


async def _reuse_or_create(
    conn: AsyncConnection,
    organization: str,
    actor: str,
    submission: Submission,
    analyzer: Row[Any],
    key: str,
) -> Submitted:
    if not submission.force:
        await _serialize(conn, organization, "cache", key)
        found = await _reusable(conn, organization, analyzer, key)
        if found is not None:
            return found
    await _check_depth(conn, analyzer)
    return Submitted(await _create(conn, organization, actor, submission, analyzer, key))


async def _serialize(conn: AsyncConnection, organization: str, kind: str, value: str) -> None:
    """Identical submissions one at a time, until this transaction ends (PostgreSQL; SQLite
    writers already take turns)."""
    if conn.dialect.name == "postgresql":
        lock = text("SELECT pg_advisory_xact_lock(hashtextextended(:key, 0))")
        await conn.execute(lock, {"key": f"jobql:{kind}:{organization}:{value}"})


async def _analyzer(conn: AsyncConnection, organization: str, submission: Submission) -> Row[Any]:
    query = select(*analyzers.c).where(
        analyzers.c.id == submission.analyzer_id, analyzers.c.organization_id == organization
    )
    analyzer = (await conn.execute(query)).one_or_none()
    if analyzer is None:
        message = f"No such analyzer: {submission.analyzer_id}"
        raise BadUserInput(message, argument="input.analyzerId")
    if not analyzer.enabled:
        message = f"The analyzer {analyzer.name} is disabled: it accepts no new jobs"
        raise BadUserInput(message, argument="input.analyzerId")
    if submission.data_type not in analyzer.data_types:
        takes = ", ".join(analyzer.data_types)
        message = (
            f"{analyzer.name} does not take dataType {submission.data_type!r} (it takes: {takes})"
        )
        raise BadUserInput(message, argument="input.dataType")
    if submission.tlp > analyzer.max_tlp:
        message = f"tlp {submission.tlp} is above {analyzer.name}'s maxTlp {analyzer.max_tlp}"
        raise BadUserInput(message, argument="input.tlp")
    return analyzer


async def _file_sha256(
    conn: AsyncConnection, organization: str, submission: Submission
) -> str | None:
    if submission.attachment_id is None:
        return None
    query = select(attachments.c.sha256).where(
        attachments.c.id == submission.attachment_id,
        attachments.c.organization_id == organization,
    )
    if conn.dialect.name == "postgresql":
        # Held until commit: a purge freeing this attachment waits for the job that uses it
        # (or, if it deleted it first, this reads nothing: "No such attachment"), so the
        # job's INSERT never points at a deleted row. SQLite's single writer needs no lock.
        query = query.with_for_update(read=True)
    sha256 = await conn.scalar(query)
    if sha256 is None:
        message = f"No such attachment: {submission.attachment_id}"
        raise BadUserInput(message, argument="input.attachmentId")
    return str(sha256)


async def _reusable(
    conn: AsyncConnection, organization: str, analyzer: Row[Any], key: str
) -> Submitted | None:
    same = (jobs.c.organization_id == organization) & (jobs.c.cache_key == key)
    active = [JobStatus.WAITING.value, JobStatus.IN_PROGRESS.value]
    running = select(*jobs.c).where(same, jobs.c.status.in_(active))
    found = (await conn.execute(running.order_by(jobs.c.created_at.desc()).limit(1))).first()
    if found is not None:
        return Submitted(found, deduplicated=True)
    minutes = analyzer.job_cache_minutes
    minutes = DEFAULT_CACHE_MINUTES if minutes is None else minutes
    if minutes <= 0:
        return None
    now = datetime.now(UTC)
    fresh = select(*jobs.c).where(
        same,
        jobs.c.status == JobStatus.SUCCESS.value,
        jobs.c.end_date >= now - timedelta(minutes=minutes),
    )
    found = (await conn.execute(fresh.order_by(jobs.c.end_date.desc()).limit(1))).first()
    if found is None:
        return None
    age = max(0, int((now - found.end_date).total_seconds()))
    return Submitted(found, from_cache=True, cache_age_seconds=age)


async def _check_depth(conn: AsyncConnection, analyzer: Row[Any]) -> None:
    depth = await conn.scalar(
        select(func.count()).where(
            job_queue.c.analyzer_id == analyzer.id, job_queue.c.state == QUEUED
        )
    )
    if (depth or 0) >= analyzer.queue_depth_cap:
        raise RateLimited(
            f"{analyzer.name} has {depth} jobs queued, its cap: try again later",
            argument="input.analyzerId",
            queueDepth=depth,
        )


async def _create(
    conn: AsyncConnection,
    organization: str,
    actor: str,
    submission: Submission,
    analyzer: Row[Any],
    key: str,
) -> Row[Any]:
    now = datetime.now(UTC)
    values = {
        "id": new_id(),
        "organization_id": organization,
        "analyzer_id": analyzer.id,
        "analyzer_name": analyzer.name,
        "analyzer_definition_id": analyzer.definition_id,
        "data_type": submission.data_type,
        "status": JobStatus.WAITING.value,
        "data": submission.data,
        "attachment_id": submission.attachment_id,
        "parameters": dict(submission.parameters),
        "message": submission.message,
        "tlp": submission.tlp,
        "pap": submission.pap,
        "created_at": now,
        "created_by": actor,
        "priority": submission.priority,
        "attempt": 0,
        "max_attempts": analyzer.max_attempts,
        "cache_key": key,
    }
    job = (await conn.execute(insert(jobs).values(values).returning(*jobs.c))).one()
    await record_events(conn, [event_of(job, None, actor, None)])
    await conn.execute(
        insert(job_queue).values(
            job_id=job.id,
            organization_id=organization,
            analyzer_id=analyzer.id,
            priority=PRIORITY_RANK[submission.priority],
            enqueued_at=now,
            available_at=now,
            state=QUEUED,
        )
    )
    return job


async def _replay(
    conn: AsyncConnection, organization: str, submission: Submission
) -> Submitted | None:
    query = select(*idempotency_keys.c).where(
        idempotency_keys.c.organization_id == organization,
        idempotency_keys.c.key == submission.idempotency_key,
        idempotency_keys.c.created_at > datetime.now(UTC) - timedelta(hours=24),
    )
    seen = (await conn.execute(query)).one_or_none()
    if seen is None:
        return None
    if seen.input_digest != _input_digest(submission):
        raise Conflict(
            "This idempotency key was used with another input",
            reason="IDEMPOTENCY_KEY_REUSED",
            argument="input.idempotencyKey",
        )
    job = (await conn.execute(select(*jobs.c).where(jobs.c.id == seen.job_id))).one_or_none()
    if job is None:  # purged since: the key no longer stands for anything
        await conn.execute(idempotency_keys.delete().where(_same_key(organization, submission)))
        return None
    return Submitted(
        job,
        from_cache=seen.from_cache,
        deduplicated=seen.deduplicated,
        replayed=True,
        cache_age_seconds=seen.cache_age_seconds,
    )


def _same_key(organization: str, submission: Submission) -> Any:
    return (idempotency_keys.c.organization_id == organization) & (
        idempotency_keys.c.key == submission.idempotency_key
    )


async def _remember(
    conn: AsyncConnection, organization: str, submission: Submission, submitted: Submitted
) -> None:
    # A key older than 24 hours may still be there (the sweeper drops them in rounds).
    await conn.execute(idempotency_keys.delete().where(_same_key(organization, submission)))
    await conn.execute(
        insert(idempotency_keys).values(
            organization_id=organization,
            key=submission.idempotency_key,
            input_digest=_input_digest(submission),
            job_id=submitted.job.id,
            from_cache=submitted.from_cache,
            deduplicated=submitted.deduplicated,
            cache_age_seconds=submitted.cache_age_seconds,
            created_at=datetime.now(UTC),
        )
    )
