"""Table models. Hot paths read these tables through Core (`Model.__table__`) as plain rows."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    ForeignKey,
    Index,
    Integer,
    PrimaryKeyConstraint,
    SmallInteger,
    String,
    Table,
    Text,
    false,
    text,
)
from sqlmodel import Field, SQLModel

from app.db.types import Json, UTCDateTime, XidType, code_point_text

# SQLite only auto-increments an INTEGER PRIMARY KEY; PostgreSQL gets a 64-bit identity.
AutoId = BigInteger().with_variant(Integer(), "sqlite")
ID = 32


def _created_at() -> Any:
    return Field(sa_column=Column(UTCDateTime(), nullable=False))


class Organization(SQLModel, table=True):
    __tablename__ = "organization"
    id: str = Field(sa_column=Column(code_point_text(64), primary_key=True))
    name: str = Field(sa_column=Column(Text(), nullable=False))
    created_at: datetime = _created_at()


class User(SQLModel, table=True):
    __tablename__ = "app_user"  # "user" is reserved on PostgreSQL
    login: str = Field(sa_column=Column(code_point_text(128), primary_key=True))
    organization_id: str = Field(
        sa_column=Column(ForeignKey("organization.id"), nullable=False, index=True)
    )
    name: str = Field(sa_column=Column(Text(), nullable=False))
    roles: list[str] = Field(sa_column=Column(Json, nullable=False))
    locked: bool = Field(sa_column=Column(Boolean(), nullable=False, default=False))
    created_at: datetime = _created_at()


class ApiKey(SQLModel, table=True):
    """A key is `jq_<id>_<secret>`: looked up by id, its secret compared as a SHA-256 digest."""

    __tablename__ = "api_key"
    id: str = Field(sa_column=Column(String(32), primary_key=True))
    user_login: str = Field(
        sa_column=Column(ForeignKey("app_user.login"), nullable=False, index=True)
    )
    secret_sha256: str = Field(sa_column=Column(String(64), nullable=False))
    # The key's own roles, exactly as asked when it was made; its user's roles are the union
    # of its keys' (docs/admin.md). A request carries the key's roles, never more.
    roles: list[str] = Field(sa_column=Column(Json, nullable=False))
    created_at: datetime = _created_at()
    expires_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime()))
    revoked_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime()))
    # Written at most once a minute per key and process (app/auth.py KeyUsage), not per request.
    last_used_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime()))


class Analyzer(SQLModel, table=True):
    __tablename__ = "analyzer"
    id: str = Field(sa_column=Column(code_point_text(ID), primary_key=True))
    organization_id: str = Field(sa_column=Column(ForeignKey("organization.id"), nullable=False))
    name: str = Field(sa_column=Column(code_point_text(200), nullable=False))
    definition_id: str = Field(sa_column=Column(code_point_text(200), nullable=False))
    version: str = Field(sa_column=Column(Text(), nullable=False))
    description: str | None = Field(default=None, sa_column=Column(Text()))
    author: str | None = Field(default=None, sa_column=Column(Text()))
    license: str | None = Field(default=None, sa_column=Column(Text()))
    url: str | None = Field(default=None, sa_column=Column(Text()))
    data_types: list[str] = Field(sa_column=Column(Json, nullable=False))
    max_tlp: int = Field(sa_column=Column(Integer(), nullable=False))
    job_cache_minutes: int | None = Field(default=None, sa_column=Column(Integer()))
    enabled: bool = Field(sa_column=Column(Boolean(), nullable=False))
    created_at: datetime = _created_at()
    # Queue limits, enforced when workers claim (app/services/queue.py), fleet-wide.
    rate: int | None = Field(default=None, sa_column=Column(Integer()))
    rate_unit: str | None = Field(default=None, sa_column=Column(String(8)))
    max_concurrent: int | None = Field(default=None, sa_column=Column(Integer()))
    max_attempts: int = Field(
        default=1, sa_column=Column(Integer(), nullable=False, server_default="1")
    )
    timeout_seconds: int = Field(
        default=1800, sa_column=Column(Integer(), nullable=False, server_default="1800")
    )
    queue_depth_cap: int = Field(
        default=10_000, sa_column=Column(Integer(), nullable=False, server_default="10000")
    )

    __table_args__ = (Index("ix_analyzer_org_name", "organization_id", "name", "id"),)


class Attachment(SQLModel, table=True):
    __tablename__ = "attachment"
    id: str = Field(sa_column=Column(code_point_text(ID), primary_key=True))
    organization_id: str = Field(sa_column=Column(ForeignKey("organization.id"), nullable=False))
    name: str = Field(sa_column=Column(Text(), nullable=False))
    size: int = Field(sa_column=Column(BigInteger(), nullable=False))
    content_type: str = Field(sa_column=Column(Text(), nullable=False))
    sha256: str = Field(sa_column=Column(String(64), nullable=False, index=True))
    # Digests are stored in lower case (migration 0004 lowered older rows); filters lower input.
    sha1: str = Field(sa_column=Column(String(40), nullable=False, index=True))
    md5: str = Field(sa_column=Column(String(32), nullable=False, index=True))
    created_at: datetime = _created_at()


class Job(SQLModel, table=True):
    __tablename__ = "job"
    id: str = Field(sa_column=Column(code_point_text(ID), primary_key=True))
    organization_id: str = Field(sa_column=Column(ForeignKey("organization.id"), nullable=False))
    # No foreign key: a job outlives its analyzer, whose name it keeps.
    analyzer_id: str = Field(sa_column=Column(code_point_text(ID), nullable=False))
    analyzer_name: str = Field(sa_column=Column(code_point_text(200), nullable=False))
    analyzer_definition_id: str = Field(sa_column=Column(code_point_text(200), nullable=False))
    data_type: str = Field(sa_column=Column(code_point_text(32), nullable=False))
    status: str = Field(sa_column=Column(String(16), nullable=False))
    data: str | None = Field(default=None, sa_column=Column(code_point_text()))
    attachment_id: str | None = Field(
        default=None, sa_column=Column(ForeignKey("attachment.id"), nullable=True)
    )
    parameters: dict[str, Any] = Field(sa_column=Column(Json, nullable=False))
    message: str = Field(sa_column=Column(code_point_text(), nullable=False))
    tlp: int = Field(sa_column=Column(Integer(), nullable=False))
    pap: int = Field(sa_column=Column(Integer(), nullable=False))
    start_date: datetime | None = Field(default=None, sa_column=Column(UTCDateTime()))
    end_date: datetime | None = Field(default=None, sa_column=Column(UTCDateTime()))
    created_at: datetime = _created_at()
    created_by: str = Field(sa_column=Column(code_point_text(128), nullable=False))
    updated_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime()))
    updated_by: str | None = Field(default=None, sa_column=Column(code_point_text(128)))
    priority: str = Field(
        default="NORMAL", sa_column=Column(String(8), nullable=False, server_default="NORMAL")
    )
    attempt: int = Field(default=0, sa_column=Column(Integer(), nullable=False, server_default="0"))
    max_attempts: int = Field(
        default=1, sa_column=Column(Integer(), nullable=False, server_default="1")
    )
    # Digest of the canonical input (app/services/submission.py): the job cache's key.
    cache_key: str | None = Field(default=None, sa_column=Column(String(64)))
    # The lease of the attempt that owns the job: a worker's write must present it. Kept after
    # the job finishes, so a repeated completion with the same lease is recognised.
    lease_token: str | None = Field(default=None, sa_column=Column(String(64)))
    # The report's highest taxonomy level as its rank (app/services/verdicts.py: INFO 0 …
    # MALICIOUS 3), NULL without a report or taxonomies: kept here so a listing can filter and
    # sort on it with an index (ix_job_org_verdict, migration 0004).
    verdict: int | None = Field(default=None, sa_column=Column(SmallInteger()))

    __table_args__ = (
        Index("ix_job_org_verdict", "organization_id", "verdict", "created_at", "id"),
        Index("ix_job_cache_key", "organization_id", "cache_key", "status"),
        Index("ix_job_org_created", "organization_id", "created_at", "id"),
        # One status and data type, newest first, and their COUNT (migrations 0002, 0007).
        Index(
            "ix_job_org_status_type_created",
            "organization_id",
            "status",
            "data_type",
            "created_at",
            "id",
        ),
        Index("ix_job_analyzer_created", "analyzer_id", "created_at", "id"),
        Index("ix_job_attachment", "attachment_id"),
    )


class Report(SQLModel, table=True):
    __tablename__ = "report"
    job_id: str = Field(
        sa_column=Column(ForeignKey("job.id", ondelete="CASCADE"), primary_key=True)
    )
    success: bool = Field(sa_column=Column(Boolean(), nullable=False))
    taxonomies: list[dict[str, str]] = Field(sa_column=Column(Json, nullable=False))
    # Can be large: the API reads it only when `full` is selected.
    full: dict[str, Any] | None = Field(default=None, sa_column=Column(Json))
    error_message: str | None = Field(default=None, sa_column=Column(Text()))
    created_at: datetime = _created_at()


class Artifact(SQLModel, table=True):
    __tablename__ = "artifact"
    id: int | None = Field(default=None, sa_column=Column(AutoId, primary_key=True))
    job_id: str = Field(
        sa_column=Column(ForeignKey("job.id", ondelete="CASCADE"), nullable=False, index=True)
    )
    data_type: str = Field(sa_column=Column(Text(), nullable=False))
    data: str | None = Field(default=None, sa_column=Column(Text()))
    attachment_id: str | None = Field(
        default=None, sa_column=Column(ForeignKey("attachment.id"), nullable=True, index=True)
    )
    tlp: int = Field(sa_column=Column(Integer(), nullable=False))
    message: str | None = Field(default=None, sa_column=Column(Text()))
    tags: list[str] = Field(sa_column=Column(Json, nullable=False))


class Taxonomy(SQLModel, table=True):
    """One taxonomy of a report, as a row, so a filter can ask for a job with *one* taxonomy
    matching several conditions (one correlated EXISTS). `report.taxonomies` keeps the JSON
    the API answers with; both are written together (app/services/verdicts.py)."""

    __tablename__ = "taxonomy"
    id: int | None = Field(default=None, sa_column=Column(AutoId, primary_key=True))
    job_id: str = Field(
        sa_column=Column(ForeignKey("job.id", ondelete="CASCADE"), nullable=False, index=True)
    )
    level: int = Field(sa_column=Column(SmallInteger(), nullable=False))  # rank, as job.verdict
    namespace: str = Field(sa_column=Column(code_point_text(), nullable=False))
    predicate: str = Field(sa_column=Column(code_point_text(), nullable=False))
    value: str = Field(sa_column=Column(code_point_text(), nullable=False))


class JobEvent(SQLModel, table=True):
    __tablename__ = "job_event"
    id: int | None = Field(default=None, sa_column=Column(AutoId, primary_key=True))
    job_id: str = Field(
        sa_column=Column(ForeignKey("job.id", ondelete="CASCADE"), nullable=False, index=True)
    )
    at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    status: str = Field(sa_column=Column(String(16), nullable=False))
    previous_status: str | None = Field(default=None, sa_column=Column(String(16)))
    actor: str = Field(sa_column=Column(Text(), nullable=False))
    message: str | None = Field(default=None, sa_column=Column(Text()))
    attempt: int | None = Field(default=None, sa_column=Column(Integer()))
    # The writing transaction's id on PostgreSQL (xid8, set by the database); 0 on SQLite.
    # The log is read in (xid, id) order: see app/services/live.py.
    xid: int = Field(default=None, sa_column=Column(XidType, nullable=False, server_default="0"))

    __table_args__ = ({"sqlite_autoincrement": True},)


class JobQueue(SQLModel, table=True):
    """One narrow row per WAITING or IN_PROGRESS job: claims and heartbeats touch this table,
    never the big job table's hot indexes. A row goes when its job finishes."""

    __tablename__ = "job_queue"
    job_id: str = Field(
        sa_column=Column(ForeignKey("job.id", ondelete="CASCADE"), primary_key=True)
    )
    organization_id: str = Field(sa_column=Column(code_point_text(64), nullable=False))
    analyzer_id: str = Field(sa_column=Column(code_point_text(ID), nullable=False))
    priority: int = Field(sa_column=Column(Integer(), nullable=False))  # URGENT highest
    enqueued_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    available_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    state: str = Field(sa_column=Column(String(8), nullable=False))  # QUEUED | CLAIMED
    worker_id: str | None = Field(default=None, sa_column=Column(Text()))
    lease_token: str | None = Field(default=None, sa_column=Column(String(64)))
    lease_seconds: int | None = Field(default=None, sa_column=Column(Integer()))
    lease_expires_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime()))
    last_heartbeat_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime()))
    deadline: datetime | None = Field(default=None, sa_column=Column(UTCDateTime()))
    cancel_requested: bool = Field(
        default=False, sa_column=Column(Boolean(), nullable=False, server_default=false())
    )

    __table_args__ = (
        # In the claim's order (migration 0003a), so a claim reads the first rows, no sort.
        Index(
            "ix_job_queue_claim",
            "analyzer_id",
            "state",
            text("priority DESC"),
            "enqueued_at",
            "job_id",
        ),
        Index("ix_job_queue_lease", "state", "lease_expires_at"),
    )


class QueueStart(SQLModel, table=True):
    """When a rate-limited analyzer's jobs were claimed: the fleet-wide rate window."""

    __tablename__ = "queue_start"
    id: int | None = Field(default=None, sa_column=Column(AutoId, primary_key=True))
    analyzer_id: str = Field(sa_column=Column(code_point_text(ID), nullable=False))
    at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))

    __table_args__ = (Index("ix_queue_start_analyzer_at", "analyzer_id", "at"),)


class IdempotencyKey(SQLModel, table=True):
    """A submission's idempotency key, its input's digest and its first answer (24 hours)."""

    __tablename__ = "idempotency_key"
    organization_id: str = Field(sa_column=Column(code_point_text(64), primary_key=True))
    key: str = Field(sa_column=Column(code_point_text(255), primary_key=True))
    input_digest: str = Field(sa_column=Column(String(64), nullable=False))
    job_id: str = Field(sa_column=Column(code_point_text(ID), nullable=False))
    from_cache: bool = Field(sa_column=Column(Boolean(), nullable=False))
    deduplicated: bool = Field(sa_column=Column(Boolean(), nullable=False))
    cache_age_seconds: int | None = Field(default=None, sa_column=Column(Integer()))
    created_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False, index=True))


class Worker(SQLModel, table=True):
    """An analyzer runner as last seen claiming or heartbeating (`Query.workers`)."""

    __tablename__ = "worker"
    organization_id: str = Field(sa_column=Column(code_point_text(64), primary_key=True))
    id: str = Field(sa_column=Column(code_point_text(200), primary_key=True))
    login: str = Field(sa_column=Column(code_point_text(128), nullable=False))
    analyzer_ids: list[str] = Field(sa_column=Column(Json, nullable=False))
    last_seen_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))


class AuditEvent(SQLModel, table=True):
    """An administrative or destructive act. No foreign keys: it outlives what it names."""

    __tablename__ = "audit_event"
    id: int | None = Field(default=None, sa_column=Column(AutoId, primary_key=True))
    organization_id: str = Field(sa_column=Column(code_point_text(64), nullable=False))
    at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    actor: str = Field(sa_column=Column(Text(), nullable=False))
    action: str = Field(sa_column=Column(String(32), nullable=False))
    target: str | None = Field(default=None, sa_column=Column(Text()))
    count: int | None = Field(default=None, sa_column=Column(Integer()))
    details: dict[str, Any] = Field(sa_column=Column(Json, nullable=False))

    __table_args__ = (
        Index("ix_audit_event_org_at", "organization_id", text("at DESC"), text("id DESC")),
    )


def _count_columns() -> list[Column[Any]]:
    """The grouped columns of job_count and job_count_delta: a job's, with its createdAt's UTC
    day, and its verdict's rank or -1 for none (a key column cannot be NULL)."""
    return [
        Column("organization_id", code_point_text(64), nullable=False),
        Column("day", UTCDateTime(), nullable=False),
        Column("status", String(16), nullable=False),
        Column("analyzer_id", code_point_text(ID), nullable=False),
        Column("analyzer_name", code_point_text(200), nullable=False),
        Column("data_type", code_point_text(32), nullable=False),
        Column("tlp", Integer(), nullable=False),
        Column("verdict", SmallInteger(), nullable=False),
    ]


# jobStats' rollup (migration 0008, app/services/rollup.py): how many jobs per organization,
# UTC day and grouped values. Kept by triggers on job: on SQLite they add to job_count at once
# (one writer at a time: no hot row); on PostgreSQL they append +1/-1 rows to job_count_delta,
# which the sweeper folds into job_count, so concurrent writers never wait on one counter row.
job_counts = Table(
    "job_count",
    SQLModel.metadata,
    *_count_columns(),
    Column("n", Integer(), nullable=False),
    PrimaryKeyConstraint(
        "organization_id",
        "day",
        "status",
        "analyzer_id",
        "analyzer_name",
        "data_type",
        "tlp",
        "verdict",
    ),
    Index(
        "ix_job_count_empty",
        "organization_id",
        sqlite_where=text("n = 0"),
        postgresql_where=text("n = 0"),
    ),
    sqlite_with_rowid=False,  # migration 0008
)
job_count_deltas = Table(
    "job_count_delta", SQLModel.metadata, *_count_columns(), Column("n", Integer(), nullable=False)
)


def table(model: type[SQLModel]) -> Table:
    """The Core table behind a model, typed for query building."""
    t = model.__table__  # type: ignore[attr-defined]
    assert isinstance(t, Table)
    return t


organizations = table(Organization)
users = table(User)
api_keys = table(ApiKey)
analyzers = table(Analyzer)
attachments = table(Attachment)
jobs = table(Job)
reports = table(Report)
artifacts = table(Artifact)
taxonomies = table(Taxonomy)
job_events = table(JobEvent)
job_queue = table(JobQueue)
queue_starts = table(QueueStart)
idempotency_keys = table(IdempotencyKey)
workers = table(Worker)
audit_events = table(AuditEvent)
