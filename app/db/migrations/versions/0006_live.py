"""Live updates: the job event log gets a commit-ordered cursor and a wake-up

Revision ID: 0006
Revises: 0005 (re-chained after main's 0005)
Create Date: 2026-12-07

The log is read in (xid, id) order (app/services/live.py). PostgreSQL: `xid` is the writing
transaction's id (xid8, never wraps), and a statement-level trigger sends one `jobql_events`
notification per inserting statement, with an empty payload (PostgreSQL folds identical
notifications of one transaction into one). SQLite has one writer at a time, so the id alone
is commit order: `xid` stays 0 there, and the id becomes AUTOINCREMENT, so that an id is never
handed out again after the newest events were purged (a reader past it would skip the new one).
"""

import warnings
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0003a"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

NOTIFY_FUNCTION = """
CREATE FUNCTION jobql_notify_events() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('jobql_events', '');
    RETURN NULL;
END $$
"""
NOTIFY_TRIGGER = """
CREATE TRIGGER job_event_notify AFTER INSERT ON job_event
FOR EACH STATEMENT EXECUTE FUNCTION jobql_notify_events()
"""


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        # Events written before this migration are all committed: they sort first (xid 0),
        # and a constant default adds the column without rewriting the table.
        op.execute("ALTER TABLE job_event ADD COLUMN xid xid8 NOT NULL DEFAULT '0'")
        op.execute("ALTER TABLE job_event ALTER COLUMN xid SET DEFAULT pg_current_xact_id()")
        op.execute(NOTIFY_FUNCTION)
        op.execute(NOTIFY_TRIGGER)
    else:
        # Recreating job_event reflects the job table it references, whose expression index
        # (0004's ix_job_hash_data) SQLAlchemy cannot reflect: it is not needed here.
        with (
            warnings.catch_warnings(),
            op.batch_alter_table(
                "job_event", recreate="always", table_kwargs={"sqlite_autoincrement": True}
            ) as batch,
        ):
            warnings.filterwarnings("ignore", "Skipped unsupported reflection", sa.exc.SAWarning)
            batch.add_column(sa.Column("xid", sa.BigInteger(), nullable=False, server_default="0"))
    op.create_index("ix_job_event_log", "job_event", ["xid", "id"])


def downgrade() -> None:
    op.drop_index("ix_job_event_log", table_name="job_event")
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER job_event_notify ON job_event")
        op.execute("DROP FUNCTION jobql_notify_events()")
        op.execute("ALTER TABLE job_event DROP COLUMN xid")
    else:
        with warnings.catch_warnings(), op.batch_alter_table("job_event", recreate="always") as b:
            warnings.filterwarnings("ignore", "Skipped unsupported reflection", sa.exc.SAWarning)
            b.drop_column("xid")
