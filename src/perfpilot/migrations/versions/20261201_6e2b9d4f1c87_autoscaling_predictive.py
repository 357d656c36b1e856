"""autoscaling configs: predictive, lead_time_seconds

`predictive`: scale ahead of a forecast rise of the arrival rate (DESIGN §14); `lead_time_seconds`:
how far ahead (null: the default of 60 s).

Revision ID: 6e2b9d4f1c87
Revises: e15a7c3d2b90
Create Date: 2026-12-01 04:00:00.000000

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision: str = "6e2b9d4f1c87"
down_revision: str | Sequence[str] | None = "e15a7c3d2b90"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Upgrade schema."""
    with op.batch_alter_table("ai_autoscaling_configs", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("predictive", sa.Boolean(), nullable=False, server_default=sa.false())
        )
        batch_op.add_column(sa.Column("lead_time_seconds", sa.Double(), nullable=True))


def downgrade() -> None:
    """Downgrade schema."""
    with op.batch_alter_table("ai_autoscaling_configs", schema=None) as batch_op:
        batch_op.drop_column("lead_time_seconds")
        batch_op.drop_column("predictive")
