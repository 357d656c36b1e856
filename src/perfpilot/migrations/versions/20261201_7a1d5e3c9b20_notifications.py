"""notifications (DESIGN §13): silences, what each Alertmanager was told, bindings,
webhook grouping

Revision ID: 7a1d5e3c9b20
Revises: 4c8e2f6a9b13
Create Date: 2026-12-01 03:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql


revision: str = "7a1d5e3c9b20"
down_revision: str | Sequence[str] | None = "4c8e2f6a9b13"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")


def upgrade() -> None:
    op.create_table(
        "ai_silences",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("matchers", JSON, nullable=False),
        sa.Column("starts_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ends_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.String(length=200), nullable=False),
        sa.Column("comment", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expired_by", sa.String(length=200), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_silences_ends_at", "ai_silences", ["ends_at"])
    op.create_table(
        "ai_alertmanager_notices",
        sa.Column("target", sa.String(length=16), nullable=False),
        sa.Column("alert_id", sa.Uuid(), nullable=False),
        sa.Column("last_sent_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("ended_sent_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(["alert_id"], ["ai_performance_alerts.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("target", "alert_id"),
    )
    op.create_table(
        "ai_alertmanager_bindings",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("matchers", JSON, nullable=False),
        sa.Column("service_name", sa.String(length=100), nullable=True),
        sa.Column("service_label", sa.String(length=64), nullable=False),
        sa.Column("action", JSON, nullable=False),
        sa.Column("metric", sa.String(length=32), nullable=True),
        sa.Column("aggregation", sa.String(length=8), nullable=False),
        sa.Column("window", sa.Double(), nullable=False),
        sa.Column("is_active", sa.Boolean(), nullable=False),
        sa.Column("last_executed", JSON, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.add_column(
        "ai_webhooks", sa.Column("group_by", JSON, server_default=sa.text("'[]'"), nullable=False)
    )
    op.add_column(
        "ai_webhooks",
        sa.Column("group_wait", sa.Double(), server_default=sa.text("0"), nullable=False),
    )
    op.add_column(
        "ai_webhooks",
        sa.Column("group_interval", sa.Double(), server_default=sa.text("300"), nullable=False),
    )
    op.create_table(
        "ai_webhook_groups",
        sa.Column("webhook_id", sa.Uuid(), nullable=False),
        sa.Column("group_key", sa.String(length=64), nullable=False),
        sa.Column("group_labels", JSON, nullable=False),
        sa.Column("items", JSON, nullable=False),
        sa.Column("flush_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_flushed_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["webhook_id"], ["ai_webhooks.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("webhook_id", "group_key"),
    )
    op.create_index("ix_webhook_groups_flush_at", "ai_webhook_groups", ["flush_at"])
    op.create_index(
        "ix_am_notices_target_ended", "ai_alertmanager_notices", ["target", "ended_sent_at"]
    )


def downgrade() -> None:
    op.drop_index("ix_webhook_groups_flush_at", table_name="ai_webhook_groups")
    op.drop_table("ai_webhook_groups")
    with op.batch_alter_table("ai_webhooks") as batch:
        batch.drop_column("group_interval")
        batch.drop_column("group_wait")
        batch.drop_column("group_by")
    op.drop_index("ix_am_notices_target_ended", table_name="ai_alertmanager_notices")
    op.drop_table("ai_alertmanager_notices")
    op.drop_table("ai_alertmanager_bindings")
    op.drop_index("ix_silences_ends_at", table_name="ai_silences")
    op.drop_table("ai_silences")
