"""metric rollups: count/sum/min/max per series per UTC minute, for GET /series

Revision ID: 7e1b9c3d5a27
Revises: 7a1d5e3c9b20
Create Date: 2026-12-01 03:40:00

The ingest writer keeps the table current in the transaction that commits samples; this
migration builds it once from the samples already stored (one grouped INSERT ... SELECT).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = "7e1b9c3d5a27"
down_revision: str | Sequence[str] | None = "7a1d5e3c9b20"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLE = "ai_metric_rollups_1m"
# the minute of a sample as each store holds times (SQLite: 'YYYY-MM-DD HH:MM:SS.ffffff' text)
MINUTE = {
    "sqlite": "substr(timestamp, 1, 17) || '00.000000'",
    "postgresql": "date_trunc('minute', timestamp)",
}


def upgrade() -> None:
    op.create_table(
        TABLE,
        sa.Column("service_name", sa.String(length=100), nullable=False),
        sa.Column("metric_type", sa.String(length=32), nullable=False),
        sa.Column("minute", sa.DateTime(timezone=True), nullable=False),
        sa.Column("series_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("count", sa.BigInteger(), nullable=False),
        sa.Column("sum", sa.Double(), nullable=False),
        sa.Column("min", sa.Double(), nullable=False),
        sa.Column("max", sa.Double(), nullable=False),
        sa.PrimaryKeyConstraint("service_name", "metric_type", "minute", "series_id"),
    )
    op.create_index("ix_metric_rollups_1m_minute", TABLE, ["minute"])
    minute = MINUTE[op.get_context().dialect.name]
    op.execute(
        sa.text(
            f"INSERT INTO {TABLE} (service_name, metric_type, minute, series_id, count, sum, "  # noqa: S608
            f"min, max) SELECT service_name, metric_type, {minute}, coalesce(series_id, 0), "
            "count(*), sum(value), min(value), max(value) FROM ai_performance_metrics "
            f"GROUP BY service_name, metric_type, {minute}, coalesce(series_id, 0)"
        )
    )


def downgrade() -> None:
    op.drop_index("ix_metric_rollups_1m_minute", table_name=TABLE)
    op.drop_table(TABLE)
