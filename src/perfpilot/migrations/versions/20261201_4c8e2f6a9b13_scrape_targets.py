"""scrape targets (DESIGN §10): the Prometheus endpoints Perfpilot collects from

Revision ID: 4c8e2f6a9b13
Revises: 4a8e3c1f7b62
Create Date: 2026-12-01 00:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql


revision: str = "4c8e2f6a9b13"
down_revision: str | Sequence[str] | None = "4a8e3c1f7b62"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")


def upgrade() -> None:
    op.create_table(
        "ai_scrape_targets",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("url", sa.String(length=2000), nullable=False),
        sa.Column("service_name", sa.String(length=100), nullable=False),
        sa.Column("preset", sa.String(length=32), nullable=False),
        sa.Column("mapping", JSON, nullable=False),
        sa.Column("interval_seconds", sa.Float(), nullable=False),
        sa.Column("timeout_seconds", sa.Float(), nullable=False),
        sa.Column("labels", JSON, nullable=False),
        sa.Column("headers", JSON, nullable=False),
        sa.Column("is_active", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_ai_scrape_targets_service_name", "ai_scrape_targets", ["service_name"])


def downgrade() -> None:
    op.drop_index("ix_ai_scrape_targets_service_name", table_name="ai_scrape_targets")
    op.drop_table("ai_scrape_targets")
