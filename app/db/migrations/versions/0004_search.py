"""Search depth: job.verdict, taxonomy rows, hash lookups

Revision ID: 0004
Revises: 0005 (after main's 0007 and 0005: one head)
Create Date: 2026-12-07

`job.verdict` is the report's highest taxonomy level as a rank (INFO 0, SAFE 1, SUSPICIOUS 2,
MALICIOUS 3; NULL without a report or taxonomies), so listings filter and sort on it with
`ix_job_org_verdict`. `taxonomy` holds each report's taxonomies as rows (the report keeps its
JSON), so "one taxonomy matching every condition" is one correlated EXISTS. Both are filled
from the reports already stored. Digests are lowered (hex compares without case: filters lower
their input), with indexes for sha1 and md5 lookups and for `hash` jobs' data.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

AUTO_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def _text() -> sa.types.TypeEngine[str]:
    return sa.Text().with_variant(sa.Text(collation="C"), "postgresql")


_RANK = (
    "CASE upper({level}) WHEN 'INFO' THEN 0 WHEN 'SAFE' THEN 1 "
    "WHEN 'SUSPICIOUS' THEN 2 WHEN 'MALICIOUS' THEN 3 END"
)
_BACKFILL = {
    "postgresql": (
        "INSERT INTO taxonomy (job_id, level, namespace, predicate, value) "
        f"SELECT r.job_id, {_RANK.format(level='e.t->>' + repr('level'))}, "
        "coalesce(e.t->>'namespace', ''), coalesce(e.t->>'predicate', ''), "
        "coalesce(e.t->>'value', '') "
        "FROM report r CROSS JOIN LATERAL "
        "jsonb_array_elements(r.taxonomies::jsonb) WITH ORDINALITY AS e(t, n) "
        f"WHERE {_RANK.format(level='e.t->>' + repr('level'))} IS NOT NULL "
        "ORDER BY r.job_id, e.n"
    ),
    "sqlite": (
        "INSERT INTO taxonomy (job_id, level, namespace, predicate, value) "
        f"SELECT r.job_id, {_RANK.format(level='json_extract(e.value, ' + repr('$.level') + ')')}, "
        "coalesce(json_extract(e.value, '$.namespace'), ''), "
        "coalesce(json_extract(e.value, '$.predicate'), ''), "
        "coalesce(json_extract(e.value, '$.value'), '') "
        "FROM report r, json_each(r.taxonomies) e "
        f"WHERE {_RANK.format(level='json_extract(e.value, ' + repr('$.level') + ')')} IS NOT NULL "
        "ORDER BY r.job_id, e.key"
    ),
}


def upgrade() -> None:
    dialect = op.get_bind().dialect.name
    op.add_column("job", sa.Column("verdict", sa.SmallInteger(), nullable=True))
    op.create_table(
        "taxonomy",
        sa.Column("id", AUTO_ID, primary_key=True, autoincrement=True),
        sa.Column(
            "job_id",
            sa.String(32).with_variant(sa.String(32, collation="C"), "postgresql"),
            sa.ForeignKey("job.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("level", sa.SmallInteger(), nullable=False),
        sa.Column("namespace", _text(), nullable=False),
        sa.Column("predicate", _text(), nullable=False),
        sa.Column("value", _text(), nullable=False),
    )
    op.execute(_BACKFILL[dialect])
    op.create_index("ix_taxonomy_job_id", "taxonomy", ["job_id"])
    op.execute(
        "UPDATE job SET verdict = (SELECT max(t.level) FROM taxonomy t WHERE t.job_id = job.id) "
        "WHERE id IN (SELECT job_id FROM taxonomy)"
    )
    op.create_index("ix_job_org_verdict", "job", ["organization_id", "verdict", "created_at", "id"])
    op.execute("UPDATE attachment SET sha256 = lower(sha256), sha1 = lower(sha1), md5 = lower(md5)")
    op.create_index("ix_attachment_sha1", "attachment", ["sha1"])
    op.create_index("ix_attachment_md5", "attachment", ["md5"])
    # `hash = "…"` on a hash job compares lower(data): only hash jobs are in this index.
    hash_jobs = sa.text("data_type = 'hash'")
    op.create_index(
        "ix_job_hash_data",
        "job",
        ["organization_id", sa.text("lower(data)")],
        postgresql_where=hash_jobs,
        sqlite_where=hash_jobs,
    )


def downgrade() -> None:
    op.drop_index("ix_job_hash_data", table_name="job")
    op.drop_index("ix_attachment_md5", table_name="attachment")
    op.drop_index("ix_attachment_sha1", table_name="attachment")
    op.drop_index("ix_job_org_verdict", table_name="job")
    op.drop_table("taxonomy")
    with op.batch_alter_table("job") as batch:
        batch.drop_column("verdict")
