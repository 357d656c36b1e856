"""list indexes end in (timestamp, id): every filter of GET /metrics, /alerts, /actions seeks

Revision ID: 12b67f7c33f7
Revises: 3f6b2d8e1a90
Create Date: 2026-11-30 18:30:00

The lists page newest first on (timestamp, id) with a row-value cursor `(ts, id) < (?, ?)`.
Each filter (or, for samples, each mix of service and type) now leads an index that ends in
(ts, id), so a page is one index range read backwards, with no sort: over 10 M samples,
GET /metrics?serviceName=X sought (service, type, ts) on the service alone and sorted the
service's 200,000 rows (BENCHMARKS.md, "Reads"). Rebuilding the metrics indexes on a big
store takes a while (minutes for 10 M rows on SQLite).
"""

from collections.abc import Sequence

from alembic import op

revision: str = "12b67f7c33f7"
down_revision: str | Sequence[str] | None = "9d41c7e2a5b3"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

METRICS = "ai_performance_metrics"
ALERTS = "ai_performance_alerts"
ACTIONS = "ai_optimization_actions"

# (table, name, columns before, columns after); None: the index did not exist before
CHANGES: list[tuple[str, str, list[str] | None, list[str]]] = [
    (
        METRICS,
        "ix_metrics_service_type_ts",
        ["service_name", "metric_type", "timestamp", "value"],
        ["service_name", "metric_type", "timestamp", "id", "value"],
    ),
    (METRICS, "ix_metrics_service_ts", None, ["service_name", "timestamp", "id"]),
    (METRICS, "ix_metrics_type_ts", None, ["metric_type", "timestamp", "id"]),
    (METRICS, "ix_metrics_ts", ["timestamp"], ["timestamp", "id"]),
    (ALERTS, "ix_alerts_triggered", None, ["triggered_at", "id"]),
    (
        ALERTS,
        "ix_alerts_status_triggered",
        ["status", "triggered_at"],
        ["status", "triggered_at", "id"],
    ),
    (ALERTS, "ix_alerts_severity_triggered", None, ["severity", "triggered_at", "id"]),
    (
        ALERTS,
        "ix_alerts_service_triggered",
        ["service_name", "triggered_at"],
        ["service_name", "triggered_at", "id"],
    ),
    (ALERTS, "ix_alerts_rule", ["rule_id"], ["rule_id", "triggered_at", "id"]),
    (ACTIONS, "ix_actions_executed", None, ["executed_at", "id"]),
    (
        ACTIONS,
        "ix_actions_service_executed",
        ["service_name", "executed_at"],
        ["service_name", "executed_at", "id"],
    ),
    (ACTIONS, "ix_actions_type_executed", None, ["action_type", "executed_at", "id"]),
    (ACTIONS, "ix_actions_source_executed", None, ["source", "executed_at", "id"]),
    (ACTIONS, "ix_actions_status_executed", None, ["status", "executed_at", "id"]),
    (ACTIONS, "ix_actions_outcome_executed", None, ["outcome", "executed_at", "id"]),
    (ACTIONS, "ix_actions_rule_executed", None, ["rule_id", "executed_at", "id"]),
    (ACTIONS, "ix_actions_alert_executed", None, ["alert_id", "executed_at", "id"]),
    (
        ACTIONS,
        "ix_actions_rule_service",
        ["rule_id", "service_name", "executed_at"],
        ["rule_id", "service_name", "executed_at", "id"],
    ),
]


def upgrade() -> None:
    for table, name, before, after in CHANGES:
        if before is not None:
            op.drop_index(name, table_name=table)
        op.create_index(name, table, after)


def downgrade() -> None:
    for table, name, before, _after in reversed(CHANGES):
        op.drop_index(name, table_name=table)
        if before is not None:
            op.create_index(name, table, before)
