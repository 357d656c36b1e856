"""metric registry and histogram samples: ai_metric_types, ai_performance_histograms

Revision ID: 4a8e3c1f7b62
Revises: 4c8e2a1f6b3d
Create Date: 2026-12-01 00:00:00

User types of the metric registry (POST /metric-types; the built-in types live in code), and
histogram samples (bucket bounds and counts, sum, count over an interval) in a table of their
own, with the same listing indexes as ai_performance_metrics.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")

revision: str = "4a8e3c1f7b62"
down_revision: str | Sequence[str] | None = "4c8e2a1f6b3d"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None
INDEXES = {
    "ix_histograms_service_type_ts": ["service_name", "metric_type", "timestamp", "id"],
    "ix_histograms_service_ts": ["service_name", "timestamp", "id"],
    "ix_histograms_type_ts": ["metric_type", "timestamp", "id"],
    "ix_histograms_ts": ["timestamp", "id"],
}


def upgrade() -> None:
    op.create_table(
        "ai_metric_types",
        sa.Column("name", sa.String(32), primary_key=True),
        sa.Column("unit", sa.String(16), nullable=False),
        sa.Column("units", JSON, nullable=False),
        sa.Column("better", sa.String(8), nullable=False),
        sa.Column("minimum", sa.Double(), nullable=True),
        sa.Column("maximum", sa.Double(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "ai_performance_histograms",
        sa.Column("id", sa.Uuid(), primary_key=True),
        sa.Column("service_name", sa.String(100), nullable=False),
        sa.Column("metric_type", sa.String(32), nullable=False),
        sa.Column("unit", sa.String(16), nullable=False),
        sa.Column("timestamp", sa.DateTime(timezone=True), nullable=False),
        sa.Column("interval_seconds", sa.Double(), nullable=True),
        sa.Column("bounds", JSON, nullable=False),
        sa.Column("counts", JSON, nullable=False),
        sa.Column("sum", sa.Double(), nullable=False),
        sa.Column("count", sa.BigInteger(), nullable=False),
        sa.Column("metadata", JSON, nullable=False),
        # the labelled series (ai_metric_series), as on ai_performance_metrics; NULL: no labels
        sa.Column("series_id", sa.BigInteger(), nullable=True),
    )
    for name, columns in INDEXES.items():
        op.create_index(name, "ai_performance_histograms", columns)
    op.create_index(
        "ix_histograms_series_ts",
        "ai_performance_histograms",
        ["series_id", "timestamp", "id"],
        sqlite_where=sa.text("series_id IS NOT NULL"),
        postgresql_where=sa.text("series_id IS NOT NULL"),
    )


def downgrade() -> None:
    op.drop_index("ix_histograms_series_ts", table_name="ai_performance_histograms")
    for name in INDEXES:
        op.drop_index(name, table_name="ai_performance_histograms")
    op.drop_table("ai_performance_histograms")
    op.drop_table("ai_metric_types")
