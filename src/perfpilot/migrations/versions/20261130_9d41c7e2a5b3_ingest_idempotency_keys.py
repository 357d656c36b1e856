"""ingest idempotency keys: one row per (token subject, Idempotency-Key) for 24 hours

POST /metrics and POST /metrics/batch accept an `Idempotency-Key` header. The key's row is
written in the transaction that commits the request's samples; its primary key refuses a
second request with the same key, so a retried batch is stored once. The row keeps the
response, replayed to a repeat; created_at lets the retention loop prune rows past 24 hours.

Revision ID: 9d41c7e2a5b3
Revises: 9d4e2c7b1f05
Create Date: 2026-11-30 18:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "9d41c7e2a5b3"
down_revision: str | Sequence[str] | None = "9d4e2c7b1f05"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLE = "ai_idempotency_keys"


def upgrade() -> None:
    op.create_table(
        TABLE,
        sa.Column("subject", sa.String(length=255), nullable=False),
        sa.Column("key", sa.String(length=255), nullable=False),
        sa.Column("request_hash", sa.String(length=64), nullable=False),
        sa.Column("status_code", sa.Integer(), nullable=False),
        sa.Column("response_body", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("subject", "key"),
    )
    op.create_index("ix_idempotency_keys_created_at", TABLE, ["created_at"])


def downgrade() -> None:
    op.drop_index("ix_idempotency_keys_created_at", table_name=TABLE)
    op.drop_table(TABLE)
