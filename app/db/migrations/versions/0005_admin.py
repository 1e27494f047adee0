"""Administration: the audit trail, and API keys with their own roles, expiry and revocation

Revision ID: 0005
Revises: 0007 (re-chained after main's 0007; written against 0003)
Create Date: 2026-12-07

`audit_event` has no foreign key on purpose: an event names a job, key or analyzer that a
purge may remove, and the trail must outlive it. Its index serves `auditEvents` (newest first,
one organization). Keys made before this step get their user's roles, which is what they
carried until now.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import app.db.types

revision: str = "0005"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

AUTO_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")


def _time(name: str, nullable: bool = True) -> sa.Column[sa.DateTime]:
    return sa.Column(name, app.db.types.UTCDateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "audit_event",
        sa.Column("id", AUTO_ID, primary_key=True, autoincrement=True),
        sa.Column(
            "organization_id",
            sa.String(64).with_variant(sa.String(64, collation="C"), "postgresql"),
            nullable=False,
        ),
        _time("at", nullable=False),
        sa.Column("actor", sa.Text(), nullable=False),
        sa.Column("action", sa.String(32), nullable=False),
        sa.Column("target", sa.Text(), nullable=True),
        sa.Column("count", sa.Integer(), nullable=True),
        sa.Column("details", JSON, nullable=False),
    )
    op.create_index(
        "ix_audit_event_org_at",
        "audit_event",
        ["organization_id", sa.text("at DESC"), sa.text("id DESC")],
    )
    with op.batch_alter_table("api_key") as batch:
        batch.add_column(sa.Column("roles", JSON, nullable=True))
        batch.add_column(_time("expires_at"))
        batch.add_column(_time("revoked_at"))
        batch.add_column(_time("last_used_at"))
    op.execute(
        "UPDATE api_key SET roles = "
        "(SELECT app_user.roles FROM app_user WHERE app_user.login = api_key.user_login)"
    )
    with op.batch_alter_table("api_key") as batch:
        batch.alter_column("roles", existing_type=JSON, nullable=False)


def downgrade() -> None:
    with op.batch_alter_table("api_key") as batch:
        for column in ("last_used_at", "revoked_at", "expires_at", "roles"):
            batch.drop_column(column)
    op.drop_index("ix_audit_event_org_at", "audit_event")
    op.drop_table("audit_event")
