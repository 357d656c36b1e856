"""sizing and cost (DESIGN §14): autoscaling mode/targetLatency, the sizing record on actions,
and the operators' model price table

Revision ID: e15a7c3d2b90
Revises: 7e3a9c51d2f4
Create Date: 2026-12-01 03:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "e15a7c3d2b90"
down_revision: str | Sequence[str] | None = "7e3a9c51d2f4"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")


def upgrade() -> None:
    with op.batch_alter_table("ai_autoscaling_configs") as batch:
        batch.add_column(
            sa.Column("mode", sa.String(length=16), server_default="hpa", nullable=False)
        )
        batch.add_column(sa.Column("target_latency", sa.Double(), nullable=True))
        batch.add_column(
            sa.Column(
                "latency_statistic", sa.String(length=8), server_default="p95", nullable=False
            )
        )
    with op.batch_alter_table("ai_optimization_actions") as batch:
        batch.add_column(sa.Column("sizing", JSON, nullable=True))
    op.create_table(
        "ai_model_prices",
        sa.Column("model", sa.String(length=200), nullable=False),
        sa.Column("input_per_mtok", sa.Double(), nullable=False),
        sa.Column("output_per_mtok", sa.Double(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("valid_from", sa.DateTime(timezone=True), nullable=False),
        sa.Column("source", sa.Text(), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("model"),
    )


def downgrade() -> None:
    op.drop_table("ai_model_prices")
    with op.batch_alter_table("ai_optimization_actions") as batch:
        batch.drop_column("sizing")
    with op.batch_alter_table("ai_autoscaling_configs") as batch:
        batch.drop_column("latency_statistic")
        batch.drop_column("target_latency")
        batch.drop_column("mode")
