from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import Double, ForeignKey, Index, String, Text, Uuid, text
from sqlalchemy.orm import Mapped, mapped_column

from perfpilot.core.db import Base, JSONType, UTCDateTime, new_id, utcnow

OPEN_STATUSES = ("active", "acknowledged")


class PerformanceAlert(Base):
    """One firing of a rule for a service, from trigger to resolution."""

    __tablename__ = "ai_performance_alerts"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    rule_id: Mapped[uuid.UUID | None] = mapped_column(
        Uuid, ForeignKey("ai_optimization_rules.id", ondelete="SET NULL"), nullable=True
    )
    service_name: Mapped[str] = mapped_column(String(100))
    fingerprint: Mapped[str] = mapped_column(String(64))
    metric_type: Mapped[str] = mapped_column(String(32))
    current_value: Mapped[float] = mapped_column(Double)
    threshold: Mapped[float] = mapped_column(Double)
    severity: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(16), default="active")
    triggered_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_evaluated_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    acknowledged_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    acknowledged_by: Mapped[str | None] = mapped_column(String(200), nullable=True)
    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    resolved_by: Mapped[str | None] = mapped_column(String(200), nullable=True)
    resolve_reason: Mapped[str | None] = mapped_column(String(32), nullable=True)
    message: Mapped[str] = mapped_column(Text, default="")
    meta: Mapped[dict[str, Any]] = mapped_column("metadata", JSONType, default=dict)
    # the rule's groupBy label values this alert is for ({}: not grouped); in the fingerprint
    labels: Mapped[dict[str, str]] = mapped_column(
        JSONType, default=dict, server_default=text("'{}'")
    )

    __table_args__ = (
        # The database itself guarantees at most one open alert per fingerprint.
        Index(
            "uq_alerts_open_fingerprint",
            "fingerprint",
            unique=True,
            sqlite_where=text("status IN ('active', 'acknowledged')"),
            postgresql_where=text("status IN ('active', 'acknowledged')"),
        ),
        # GET /alerts pages newest first on (triggered_at, id): each filter leads an index
        # that ends in (triggered_at, id), so every combination is a range without a sort.
        Index("ix_alerts_triggered", "triggered_at", "id"),
        Index("ix_alerts_status_triggered", "status", "triggered_at", "id"),
        Index("ix_alerts_severity_triggered", "severity", "triggered_at", "id"),
        Index("ix_alerts_service_triggered", "service_name", "triggered_at", "id"),
        Index("ix_alerts_rule", "rule_id", "triggered_at", "id"),
        # services with open alerts in name order, their counts by severity (lists), and the
        # alerts list filtered by status, service and severity (ends in (triggered_at, id))
        Index(
            "ix_alerts_status_service", "status", "service_name", "severity", "triggered_at", "id"
        ),
    )


class RuleEvaluationState(Base):
    """The engine's state per (rule, service, group), so pending timers survive a restart."""

    __tablename__ = "ai_rule_evaluation_states"

    rule_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("ai_optimization_rules.id", ondelete="CASCADE"), primary_key=True
    )
    service_name: Mapped[str] = mapped_column(String(100), primary_key=True)
    # the group's label values as canonical JSON ("{}": a rule without groupBy)
    labels: Mapped[str] = mapped_column(Text, primary_key=True, server_default=text("'{}'"))
    state: Mapped[dict[str, Any]] = mapped_column(JSONType)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
