"""labels: labelled series, their label pairs, the series of each sample, grouped alerts

Revision ID: 4c8e2a1f6b3d
Revises: 9d4c1e7b2a55
Create Date: 2026-12-01 00:20:00

A sample may carry labels (DESIGN §9). Each labelled series (service, type, label set) is one
row of ai_metric_series, keyed by a 64-bit hash the app computes; its label pairs are rows of
ai_metric_series_labels, so `labels[name]=value` is a seek on (name, value). A sample names its
series in series_id; existing samples have no labels (NULL), so nothing is rewritten, and the
index on (series_id, timestamp, id) is partial: unlabelled samples do not pay for it.
Rules may group by labels: an alert carries its group's label values (`labels`), and the
engine's saved state is per (rule, service, group), so the group joins that primary key.
"""

import contextlib
import warnings
from collections.abc import Iterator, Sequence

import sqlalchemy as sa
from alembic import op
from alembic.operations import BatchOperations
from sqlalchemy.dialects import postgresql


revision: str = "4c8e2a1f6b3d"
down_revision: str | Sequence[str] | None = "9d4c1e7b2a55"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SAMPLES = "ai_performance_metrics"
STATES = "ai_rule_evaluation_states"
ALERTS = "ai_performance_alerts"
JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")


def upgrade() -> None:
    op.create_table(
        "ai_metric_series",
        sa.Column("id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("service_name", sa.String(length=100), nullable=False),
        sa.Column("metric_type", sa.String(length=32), nullable=False),
        sa.Column("labels", sa.Text(), nullable=False),
        sa.Column("labels_hash", sa.BigInteger(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(
        "ix_metric_series_service_type", "ai_metric_series", ["service_name", "metric_type"]
    )
    op.create_index(
        "ix_metric_series_service_labels", "ai_metric_series", ["service_name", "labels_hash"]
    )
    op.create_table(
        "ai_metric_series_labels",
        sa.Column("series_id", sa.BigInteger(), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("value", sa.String(length=256), nullable=False),
        sa.ForeignKeyConstraint(
            ["series_id"],
            ["ai_metric_series.id"],
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("series_id", "name"),
    )
    op.create_index(
        "ix_metric_series_labels_pair", "ai_metric_series_labels", ["name", "value", "series_id"]
    )
    with op.batch_alter_table(SAMPLES) as batch:
        batch.add_column(sa.Column("series_id", sa.BigInteger(), nullable=True))
    op.create_index(
        "ix_metrics_series_ts",
        SAMPLES,
        ["series_id", "timestamp", "id"],
        sqlite_where=sa.text("series_id IS NOT NULL"),
        postgresql_where=sa.text("series_id IS NOT NULL"),
    )
    with op.batch_alter_table(ALERTS) as batch:
        batch.add_column(sa.Column("labels", JSON, server_default=sa.text("'{}'"), nullable=False))
    with _quiet_pk_rebuild(), op.batch_alter_table(STATES) as batch:
        batch.add_column(
            sa.Column("labels", sa.Text(), server_default=sa.text("'{}'"), nullable=False)
        )
        _replace_states_pk(batch, ["rule_id", "service_name", "labels"])


@contextlib.contextmanager
def _quiet_pk_rebuild() -> Iterator[None]:
    # SQLite's batch rebuild warns that the new primary key differs from the reflected one:
    # replacing it is the point
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*as primary_key=True, not matching")
        yield


def _replace_states_pk(batch: BatchOperations, columns: list[str]) -> None:
    # PostgreSQL named the unnamed primary key <table>_pkey; SQLite's batch mode rebuilds the
    # table with the new primary key in place of the old one
    name = f"{STATES}_pkey"
    if op.get_context().dialect.name != "sqlite":
        batch.drop_constraint(name, type_="primary")
    batch.create_primary_key(name, columns)


def downgrade() -> None:
    # grouped states cannot be kept under a (rule, service) key: they start afresh
    op.execute(sa.text("DELETE FROM ai_rule_evaluation_states WHERE labels <> '{}'"))
    with _quiet_pk_rebuild(), op.batch_alter_table(STATES) as batch:
        _replace_states_pk(batch, ["rule_id", "service_name"])
        batch.drop_column("labels")
    with op.batch_alter_table(ALERTS) as batch:
        batch.drop_column("labels")
    op.drop_index("ix_metrics_series_ts", table_name=SAMPLES)
    with op.batch_alter_table(SAMPLES) as batch:
        batch.drop_column("series_id")
    op.drop_index("ix_metric_series_labels_pair", table_name="ai_metric_series_labels")
    op.drop_table("ai_metric_series_labels")
    op.drop_index("ix_metric_series_service_labels", table_name="ai_metric_series")
    op.drop_index("ix_metric_series_service_type", table_name="ai_metric_series")
    op.drop_table("ai_metric_series")
