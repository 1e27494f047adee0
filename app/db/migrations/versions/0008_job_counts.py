"""jobStats' rollup: job counts per organization, UTC day and grouped values, kept by triggers

Revision ID: 0008
Revises: 0006
Create Date: 2026-12-08

`job_count` holds, per organization, UTC day of createdAt, status, analyzer (id and name), data
type, TLP and verdict (-1: none), how many jobs there are; jobStats reads it for whole days
(app/services/rollup.py). Triggers on `job` keep it exact for every writer, the seeders' bulk
loads included. SQLite has one writer at a time, so its triggers add to `job_count` directly.
On PostgreSQL, many workers finishing one analyzer's jobs of one day would each wait, until
commit, on the same counter row; so the triggers only append +1/-1 rows to `job_count_delta`
(no index, no lock on a shared row) and the sweeper folds them in, while readers add up both.
They fire once per statement, over its transition table: a COPY of 20,000 jobs, or a claim of
ten, appends one row per group (an UPDATE: -1 for the old values, +1 for the new, summed, so
one that changes no grouped column appends nothing).

The backfill runs after the triggers exist and while `job` is locked against writes, so no job
is counted twice or missed. A later SQLite migration that recreates `job` drops its triggers:
it must create them again (`TRIGGERS` below).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

KEYS = "organization_id, day, status, analyzer_id, analyzer_name, data_type, tlp, verdict"
DAY = {
    "postgresql": "date_trunc('day', {t}.created_at AT TIME ZONE 'UTC') AT TIME ZONE 'UTC'",
    # SQLite keeps times as fixed-width naive-UTC text, as SQLAlchemy writes them.
    "sqlite": "substr({t}.created_at, 1, 10) || ' 00:00:00.000000'",
}


def _values(dialect: str, t: str) -> str:
    """The grouped values of row `t`, in KEYS' order."""
    day = DAY[dialect].format(t=t)
    return (
        f"{t}.organization_id, {day}, {t}.status, {t}.analyzer_id, {t}.analyzer_name, "
        f"{t}.data_type, {t}.tlp, coalesce({t}.verdict, -1)"
    )


def _named(t: str) -> str:
    """PostgreSQL's grouped values of row `t`, named as KEYS."""
    day = DAY["postgresql"].format(t=t)
    return (
        f"{t}.organization_id, {day} AS day, {t}.status, {t}.analyzer_id, {t}.analyzer_name, "
        f"{t}.data_type, {t}.tlp, coalesce({t}.verdict, -1) AS verdict"
    )


def _grouped(dialect: str, source: str, sign: str) -> str:
    return (
        f"SELECT {_values(dialect, 'j')}, {sign}count(*) FROM {source} j "
        "GROUP BY 1, 2, 3, 4, 5, 6, 7, 8"
    )


GROUPED = "status, analyzer_id, analyzer_name, data_type, tlp, verdict, created_at, organization_id"
CHANGED = " OR ".join(f"OLD.{c} IS NOT NEW.{c}" for c in GROUPED.split(", "))

PG_FUNCTIONS = [
    f"""
CREATE FUNCTION jobql_count_inserted() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO job_count_delta ({KEYS}, n) {_grouped("postgresql", "new_jobs", "")};
    RETURN NULL;
END $$""",
    f"""
CREATE FUNCTION jobql_count_deleted() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO job_count_delta ({KEYS}, n) {_grouped("postgresql", "old_jobs", "-")};
    RETURN NULL;
END $$""",
    f"""
CREATE FUNCTION jobql_count_updated() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO job_count_delta ({KEYS}, n)
    SELECT {KEYS}, sum(n) FROM (
        SELECT {_named("o")}, -1 AS n FROM old_jobs o
        UNION ALL SELECT {_named("j")}, 1 AS n FROM new_jobs j
    ) AS moved GROUP BY 1, 2, 3, 4, 5, 6, 7, 8 HAVING sum(n) <> 0;
    RETURN NULL;
END $$""",
]
PG_TRIGGERS = [
    "CREATE TRIGGER job_count_insert AFTER INSERT ON job REFERENCING NEW TABLE AS new_jobs "
    "FOR EACH STATEMENT EXECUTE FUNCTION jobql_count_inserted()",
    "CREATE TRIGGER job_count_delete AFTER DELETE ON job REFERENCING OLD TABLE AS old_jobs "
    "FOR EACH STATEMENT EXECUTE FUNCTION jobql_count_deleted()",
    # A transition table cannot go with a column list: every UPDATE of job fires it, and
    # one that changes no grouped column appends nothing (the HAVING).
    "CREATE TRIGGER job_count_update AFTER UPDATE ON job "
    "REFERENCING OLD TABLE AS old_jobs NEW TABLE AS new_jobs "
    "FOR EACH STATEMENT EXECUTE FUNCTION jobql_count_updated()",
]


def _sqlite_add(t: str, sign: str) -> str:
    return (
        f"INSERT INTO job_count ({KEYS}, n) VALUES ({_values('sqlite', t)}, {sign}1) "
        f"ON CONFLICT ({KEYS}) DO UPDATE SET n = job_count.n + excluded.n;"
    )


SQLITE_TRIGGERS = [
    f"CREATE TRIGGER job_count_insert AFTER INSERT ON job BEGIN {_sqlite_add('NEW', '')} END",
    f"CREATE TRIGGER job_count_delete AFTER DELETE ON job BEGIN {_sqlite_add('OLD', '-')} END",
    f"CREATE TRIGGER job_count_update AFTER UPDATE OF {GROUPED} ON job "
    f"WHEN {CHANGED} "
    f"BEGIN {_sqlite_add('OLD', '-')} {_sqlite_add('NEW', '')} END",
]
TRIGGERS = {"postgresql": PG_FUNCTIONS + PG_TRIGGERS, "sqlite": SQLITE_TRIGGERS}


def _columns() -> list[sa.Column[object]]:
    def text(length: int) -> sa.types.TypeEngine[str]:
        return sa.String(length).with_variant(sa.String(length, collation="C"), "postgresql")

    return [
        sa.Column("organization_id", text(64), nullable=False),
        sa.Column("day", sa.DateTime(timezone=True), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("analyzer_id", text(32), nullable=False),
        sa.Column("analyzer_name", text(200), nullable=False),
        sa.Column("data_type", text(32), nullable=False),
        sa.Column("tlp", sa.Integer(), nullable=False),
        sa.Column("verdict", sa.SmallInteger(), nullable=False),
        sa.Column("n", sa.Integer(), nullable=False),
    ]


def upgrade() -> None:
    dialect = op.get_bind().dialect.name
    # WITHOUT ROWID on SQLite: a range of days is read from the primary key's B-tree itself
    # (n beside the key), not the key's index and then the table: a third less time.
    op.create_table(
        "job_count",
        *_columns(),
        sa.PrimaryKeyConstraint(*KEYS.split(", ")),
        sqlite_with_rowid=False,
    )
    op.create_index(
        "ix_job_count_empty",
        "job_count",
        ["organization_id"],
        sqlite_where=sa.text("n = 0"),
        postgresql_where=sa.text("n = 0"),
    )
    op.create_table("job_count_delta", *_columns())
    if dialect == "postgresql":
        # Writers wait until this transaction commits: the backfill sees every job once.
        op.execute("LOCK TABLE job IN SHARE ROW EXCLUSIVE MODE")
    for statement in TRIGGERS[dialect]:
        op.execute(statement)
    op.execute(f"INSERT INTO job_count ({KEYS}, n) {_grouped(dialect, 'job', '')}")


def downgrade() -> None:
    for name in ("job_count_insert", "job_count_delete", "job_count_update"):
        op.execute(f"DROP TRIGGER {name}" + (" ON job" if _pg() else ""))
    if _pg():
        for name in ("jobql_count_inserted", "jobql_count_deleted", "jobql_count_updated"):
            op.execute(f"DROP FUNCTION {name}()")
    op.drop_table("job_count_delta")
    op.drop_table("job_count")


def _pg() -> bool:
    return op.get_bind().dialect.name == "postgresql"
