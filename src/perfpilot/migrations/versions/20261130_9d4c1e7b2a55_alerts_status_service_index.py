"""alerts: index (status, service_name, severity) for the per-service lists

Revision ID: 9d4c1e7b2a55
Revises: 12b67f7c33f7
Create Date: 2026-11-30 09:00:00

GET /services and GET /realtime count each listed service's open alerts (and the severe
ones), and /realtime pages through the services with an open alert in name order. Without
this index a count reads every alert the service ever had (open or resolved) through
ix_alerts_service_triggered, and the next page of alerting services reads and sorts every
open alert; with it each is a seek per open status, covered by the index. (A partial index on
the open alerts would be smaller, but SQLite only uses one when the query spells its condition
literally and, without ANALYZE statistics, still prefers ix_alerts_status_triggered.)
"""

from collections.abc import Sequence

from alembic import op

revision: str = "9d4c1e7b2a55"
down_revision: str | Sequence[str] | None = "12b67f7c33f7"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLE = "ai_performance_alerts"
NAME = "ix_alerts_status_service"


def upgrade() -> None:
    op.create_index(NAME, TABLE, ["status", "service_name", "severity", "triggered_at", "id"])


def downgrade() -> None:
    op.drop_index(NAME, table_name=TABLE)
