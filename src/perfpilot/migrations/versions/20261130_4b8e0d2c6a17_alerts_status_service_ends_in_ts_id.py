"""alerts: ix_alerts_status_service ends in (triggered_at, id), so GET /alerts stays a sorted range

Revision ID: 4b8e0d2c6a17
Revises: 9d4c1e7b2a55
Create Date: 2026-11-30 20:10:00

With ANALYZE statistics SQLite picks (status, service_name, severity) for GET /alerts filtered
by all three, then sorts the matches (tests/integration/test_query_plans.py caught it). Ending
the index in (triggered_at, id) makes that combination a range read in page order too; the
per-service counts that use its first three columns read it as before.
"""

from collections.abc import Sequence

from alembic import op

revision: str = "4b8e0d2c6a17"
down_revision: str | Sequence[str] | None = "9d4c1e7b2a55"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLE = "ai_performance_alerts"
NAME = "ix_alerts_status_service"


def upgrade() -> None:
    op.drop_index(NAME, table_name=TABLE)
    op.create_index(NAME, TABLE, ["status", "service_name", "severity", "triggered_at", "id"])


def downgrade() -> None:
    op.drop_index(NAME, table_name=TABLE)
    op.create_index(NAME, TABLE, ["status", "service_name", "severity"])
