"""The claim index in the claim's order: priority descending, then oldest first

Revision ID: 0003a
Revises: 0004 (re-chained at merge to keep one line of migrations)
Create Date: 2026-12-07

A claim asks for `ORDER BY priority DESC, enqueued_at, job_id LIMIT n FOR UPDATE SKIP LOCKED`.
`ix_job_queue_claim` had `priority` ascending and no `job_id`, so PostgreSQL could not walk it
in that order: every claim sorted the analyzer's whole queue (100,000 queued jobs: 230 ms, the
sort spilling to disk) before locking ten rows. In the claim's order the claim reads the
index's first rows and stops.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003a"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.drop_index("ix_job_queue_claim", table_name="job_queue")
    op.create_index(
        "ix_job_queue_claim",
        "job_queue",
        ["analyzer_id", "state", sa.text("priority DESC"), "enqueued_at", "job_id"],
    )


def downgrade() -> None:
    op.drop_index("ix_job_queue_claim", table_name="job_queue")
    op.create_index(
        "ix_job_queue_claim", "job_queue", ["analyzer_id", "state", "priority", "enqueued_at"]
    )
