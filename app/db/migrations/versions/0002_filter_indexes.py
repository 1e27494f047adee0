"""PostgreSQL indexes for the common filter shapes

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23

The shapes already served by 0001: organization + created_at (ix_job_org_created, scanned
backward for newest first), analyzer (ix_job_analyzer_created) and attachment sha256
(ix_attachment_sha256, then ix_job_attachment). This adds the one for "status (IN) + data type
(+ time window), newest first". SQLite (the embedded, small-data store) does without it.
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

INDEX = "ix_job_org_status_type_created"


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    # On a large live table, build it first by hand with CREATE INDEX CONCURRENTLY under this
    # name: IF NOT EXISTS then makes this step instant.
    op.create_index(
        INDEX,
        "job",
        ["organization_id", "status", "data_type", "created_at", "id"],
        if_not_exists=True,
    )


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.drop_index(INDEX, table_name="job", if_exists=True)
