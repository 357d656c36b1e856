"""webhook deliveries: last_attempt_at

When a delivery was last tried: shown in the deliveries API and, for dead deliveries, when
they were given up (read by /health).

Revision ID: 5b7d0c2e9f41
Revises: ac1fd09627d7
Create Date: 2026-11-26 09:00:00.000000

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision: str = "5b7d0c2e9f41"
down_revision: str | Sequence[str] | None = "ac1fd09627d7"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Upgrade schema."""
    with op.batch_alter_table("ai_webhook_deliveries", schema=None) as batch_op:
        batch_op.add_column(sa.Column("last_attempt_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    """Downgrade schema."""
    with op.batch_alter_table("ai_webhook_deliveries", schema=None) as batch_op:
        batch_op.drop_column("last_attempt_at")
