"""action impact honesty: guard, measurement note, overlapping actions, credit

Revision ID: 9d4e2c7b1f05
Revises: 3f6b2d8e1a90
Create Date: 2026-11-30 18:45:00

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "9d4e2c7b1f05"
down_revision: str | Sequence[str] | None = "3f6b2d8e1a90"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")


def upgrade() -> None:
    with op.batch_alter_table("ai_optimization_actions", schema=None) as batch_op:
        batch_op.add_column(sa.Column("guard", _JSON, nullable=True))
        batch_op.add_column(sa.Column("measurement_note", sa.Text(), nullable=True))
        batch_op.add_column(sa.Column("overlaps_with", _JSON, nullable=True))
        batch_op.add_column(
            sa.Column("credited", sa.Boolean(), nullable=False, server_default=sa.true())
        )
    # rows that could never be measured (reverts had no due time; skips and dry runs are not
    # measured) get an outcome and the reason, instead of staying "pending" forever
    op.execute(
        "UPDATE ai_optimization_actions SET outcome = 'unmeasured', measurement_note = "
        "'recorded before this version measured reverts: no measurement window was set' "
        "WHERE status = 'executed' AND outcome IS NULL AND measure_due_at IS NULL"
    )
    op.execute(
        "UPDATE ai_optimization_actions SET outcome = 'unmeasured', measurement_note = "
        "CASE status WHEN 'skipped' THEN 'skipped actions are not measured' "
        "WHEN 'dry_run' THEN 'dry run: nothing changed, nothing to measure' "
        "ELSE 'failed: nothing changed, nothing to measure' END "
        "WHERE status <> 'executed' AND outcome IS NULL"
    )


def downgrade() -> None:
    with op.batch_alter_table("ai_optimization_actions", schema=None) as batch_op:
        batch_op.drop_column("credited")
        batch_op.drop_column("overlaps_with")
        batch_op.drop_column("measurement_note")
        batch_op.drop_column("guard")
