"""action measurement fields: aggregation, sample counts, prediction basis, revert flag

Revision ID: 7c3e1a9d2b10
Revises: 5b7d0c2e9f41
Create Date: 2026-11-25 11:45:00

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "7c3e1a9d2b10"
down_revision: str | Sequence[str] | None = "5b7d0c2e9f41"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("ai_optimization_actions", schema=None) as batch_op:
        batch_op.add_column(sa.Column("aggregation", sa.String(length=8), nullable=True))
        batch_op.add_column(sa.Column("baseline_samples", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("measured_samples", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("prediction_basis", sa.String(length=16), nullable=True))
        batch_op.add_column(
            sa.Column("revert_on_resolve", sa.Boolean(), nullable=False, server_default=sa.false())
        )


def downgrade() -> None:
    with op.batch_alter_table("ai_optimization_actions", schema=None) as batch_op:
        batch_op.drop_column("revert_on_resolve")
        batch_op.drop_column("prediction_basis")
        batch_op.drop_column("measured_samples")
        batch_op.drop_column("baseline_samples")
        batch_op.drop_column("aggregation")
