"""scale-out on PostgreSQL (DESIGN §12): shard positions, and each sample's inserting
transaction id so shard owners read new samples in a safe order

Revision ID: 7e3a9c51d2f4
Revises: 7e1b9c3d5a27
Create Date: 2026-12-01 03:30:00

`ingest_xid` (PostgreSQL only, xid8) is not in the models: SQLite serves one process and has
nothing like it. It is added without a default first, so existing rows are not rewritten
(they stay NULL: already evaluated), then given its default for new rows.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "7e3a9c51d2f4"
down_revision: str | Sequence[str] | None = "7e1b9c3d5a27"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


# the sample tables shard owners read (value samples, histogram samples), with their index
_FED = (
    ("ai_performance_metrics", "ix_metrics_ingest_xid"),
    ("ai_performance_histograms", "ix_histograms_ingest_xid"),
)


def upgrade() -> None:
    op.create_table(
        "ai_engine_shards",
        sa.Column("shard", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("watermark", sa.BigInteger(), nullable=False),
        sa.Column("owner", sa.String(length=200), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("shard"),
    )
    if op.get_bind().dialect.name == "postgresql":
        for table, index in _FED:
            op.execute(f"ALTER TABLE {table} ADD COLUMN ingest_xid xid8")
            op.execute(
                f"ALTER TABLE {table} ALTER COLUMN ingest_xid SET DEFAULT pg_current_xact_id()"
            )
            op.execute(f"CREATE INDEX {index} ON {table} (ingest_xid)")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for table, index in _FED:
            op.execute(f"DROP INDEX {index}")
            op.execute(f"ALTER TABLE {table} DROP COLUMN ingest_xid")
    op.drop_table("ai_engine_shards")
