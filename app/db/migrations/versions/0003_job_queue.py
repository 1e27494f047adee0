"""The job queue: submission, claims, leases, limits, idempotency keys and workers

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-07

`job_queue` is narrow on purpose: claims and heartbeats update it many times a second, and
keeping them off the big `job` table keeps that table's indexes and visibility map quiet. On
PostgreSQL it is vacuumed eagerly (it churns: every row is inserted, updated and deleted).
"""

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import app.db.types

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _text(length: int | None = None) -> sa.types.TypeEngine[str]:
    base = sa.String(length) if length else sa.Text()
    collated = sa.String(length, collation="C") if length else sa.Text(collation="C")
    return base.with_variant(collated, "postgresql")


def _time(name: str, nullable: bool = True) -> sa.Column[Any]:
    return sa.Column(name, app.db.types.UTCDateTime(timezone=True), nullable=nullable)


AUTO_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")


def upgrade() -> None:
    with op.batch_alter_table("analyzer") as batch:
        batch.add_column(sa.Column("rate", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("rate_unit", sa.String(8), nullable=True))
        batch.add_column(sa.Column("max_concurrent", sa.Integer(), nullable=True))
        batch.add_column(
            sa.Column("max_attempts", sa.Integer(), nullable=False, server_default="1")
        )
        batch.add_column(
            sa.Column("timeout_seconds", sa.Integer(), nullable=False, server_default="1800")
        )
        batch.add_column(
            sa.Column("queue_depth_cap", sa.Integer(), nullable=False, server_default="10000")
        )
    with op.batch_alter_table("job") as batch:
        batch.add_column(
            sa.Column("priority", sa.String(8), nullable=False, server_default="NORMAL")
        )
        batch.add_column(sa.Column("attempt", sa.Integer(), nullable=False, server_default="0"))
        batch.add_column(
            sa.Column("max_attempts", sa.Integer(), nullable=False, server_default="1")
        )
        batch.add_column(sa.Column("cache_key", sa.String(64), nullable=True))
        batch.add_column(sa.Column("lease_token", sa.String(64), nullable=True))
        batch.create_index("ix_job_cache_key", ["organization_id", "cache_key", "status"])
    with op.batch_alter_table("job_event") as batch:
        batch.add_column(sa.Column("attempt", sa.Integer(), nullable=True))
    # A job that ran already spent an attempt.
    op.execute("UPDATE job SET attempt = 1 WHERE start_date IS NOT NULL")

    op.create_table(
        "job_queue",
        sa.Column(
            "job_id", _text(32), sa.ForeignKey("job.id", ondelete="CASCADE"), primary_key=True
        ),
        sa.Column("organization_id", _text(64), nullable=False),
        sa.Column("analyzer_id", _text(32), nullable=False),
        sa.Column("priority", sa.Integer(), nullable=False),
        _time("enqueued_at", nullable=False),
        _time("available_at", nullable=False),
        sa.Column("state", sa.String(8), nullable=False),
        sa.Column("worker_id", sa.Text(), nullable=True),
        sa.Column("lease_token", sa.String(64), nullable=True),
        sa.Column("lease_seconds", sa.Integer(), nullable=True),
        _time("lease_expires_at"),
        _time("last_heartbeat_at"),
        _time("deadline"),
        sa.Column("cancel_requested", sa.Boolean(), nullable=False, server_default=sa.false()),
    )
    op.create_index(
        "ix_job_queue_claim", "job_queue", ["analyzer_id", "state", "priority", "enqueued_at"]
    )
    op.create_index("ix_job_queue_lease", "job_queue", ["state", "lease_expires_at"])
    op.create_table(
        "queue_start",
        sa.Column("id", AUTO_ID, primary_key=True, autoincrement=True),
        sa.Column("analyzer_id", _text(32), nullable=False),
        _time("at", nullable=False),
    )
    op.create_index("ix_queue_start_analyzer_at", "queue_start", ["analyzer_id", "at"])
    op.create_table(
        "idempotency_key",
        sa.Column("organization_id", _text(64), primary_key=True),
        sa.Column("key", _text(255), primary_key=True),
        sa.Column("input_digest", sa.String(64), nullable=False),
        sa.Column("job_id", _text(32), nullable=False),
        sa.Column("from_cache", sa.Boolean(), nullable=False),
        sa.Column("deduplicated", sa.Boolean(), nullable=False),
        sa.Column("cache_age_seconds", sa.Integer(), nullable=True),
        _time("created_at", nullable=False),
    )
    op.create_index("ix_idempotency_key_created_at", "idempotency_key", ["created_at"])
    op.create_table(
        "worker",
        sa.Column("organization_id", _text(64), primary_key=True),
        sa.Column("id", _text(200), primary_key=True),
        sa.Column("login", _text(128), nullable=False),
        sa.Column("analyzer_ids", JSON, nullable=False),
        _time("last_seen_at", nullable=False),
    )
    # The jobs already WAITING (demo data, or jobs written before the queue existed) are queued.
    op.execute(
        "INSERT INTO job_queue (job_id, organization_id, analyzer_id, priority, enqueued_at, "
        "available_at, state, cancel_requested) SELECT id, organization_id, analyzer_id, 1, "
        "created_at, created_at, 'QUEUED', false FROM job WHERE status = 'WAITING'"
    )
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            "ALTER TABLE job_queue SET (fillfactor = 70, autovacuum_vacuum_scale_factor = 0, "
            "autovacuum_vacuum_threshold = 1000, autovacuum_vacuum_cost_delay = 0)"
        )


def downgrade() -> None:
    for name in ("worker", "idempotency_key", "queue_start", "job_queue"):
        op.drop_table(name)
    with op.batch_alter_table("job_event") as batch:
        batch.drop_column("attempt")
    with op.batch_alter_table("job") as batch:
        batch.drop_index("ix_job_cache_key")
        for column in ("lease_token", "cache_key", "max_attempts", "attempt", "priority"):
            batch.drop_column(column)
    with op.batch_alter_table("analyzer") as batch:
        for column in (
            "queue_depth_cap",
            "timeout_seconds",
            "max_attempts",
            "max_concurrent",
            "rate_unit",
            "rate",
        ):
            batch.drop_column(column)
