from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import Boolean, Double, ForeignKey, Index, Integer, String, Text, Uuid, false, true
from sqlalchemy.orm import Mapped, mapped_column

from perfpilot.core.db import Base, JSONType, UTCDateTime, new_id, utcnow


class OptimizationAction(Base):
    """Every action taken or skipped, with the state before/after and its measured impact."""

    __tablename__ = "ai_optimization_actions"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    service_name: Mapped[str] = mapped_column(String(100))
    action_type: Mapped[str] = mapped_column(String(32))
    parameters: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    source: Mapped[str] = mapped_column(String(16))
    rule_id: Mapped[uuid.UUID | None] = mapped_column(
        Uuid, ForeignKey("ai_optimization_rules.id", ondelete="SET NULL"), nullable=True
    )
    alert_id: Mapped[uuid.UUID | None] = mapped_column(
        Uuid, ForeignKey("ai_performance_alerts.id", ondelete="SET NULL"), nullable=True
    )
    status: Mapped[str] = mapped_column(String(16))
    reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    state_before: Mapped[dict[str, Any] | None] = mapped_column(JSONType, nullable=True)
    state_after: Mapped[dict[str, Any] | None] = mapped_column(JSONType, nullable=True)
    metric_type: Mapped[str | None] = mapped_column(String(32), nullable=True)
    aggregation: Mapped[str | None] = mapped_column(String(8), nullable=True)
    baseline: Mapped[float | None] = mapped_column(Double, nullable=True)
    baseline_samples: Mapped[int | None] = mapped_column(Integer, nullable=True)
    predicted_impact: Mapped[float | None] = mapped_column(Double, nullable=True)
    prediction_basis: Mapped[str | None] = mapped_column(String(16), nullable=True)
    measured_value: Mapped[float | None] = mapped_column(Double, nullable=True)
    measured_samples: Mapped[int | None] = mapped_column(Integer, nullable=True)
    measured_impact: Mapped[float | None] = mapped_column(Double, nullable=True)
    outcome: Mapped[str | None] = mapped_column(String(16), nullable=True)
    revert_on_resolve: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    executed_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    measure_due_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    measured_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    # what a capacity reduction was checked against, and what the check found
    guard: Mapped[dict[str, Any] | None] = mapped_column(JSONType, nullable=True)
    # why the action has the outcome it has (or why it is not measured)
    measurement_note: Mapped[str | None] = mapped_column(Text, nullable=True)
    # executed actions on the same service whose measurement windows overlap this one's
    overlaps_with: Mapped[list[Any] | None] = mapped_column(JSONType, nullable=True)
    # model-based sizing: the queueing model's inputs, its prediction, and its check
    sizing: Mapped[dict[str, Any] | None] = mapped_column(JSONType, nullable=True)
    # False when an earlier overlapping action carries the group's measurement
    credited: Mapped[bool] = mapped_column(Boolean, default=True, server_default=true())

    __table_args__ = (
        # GET /actions pages newest first on (executed_at, id): each filter leads an index
        # that ends in (executed_at, id), so every combination is a range without a sort.
        # Actions are written a few at a time, so the indexes cost writes next to nothing.
        Index("ix_actions_executed", "executed_at", "id"),
        Index("ix_actions_service_executed", "service_name", "executed_at", "id"),
        Index("ix_actions_type_executed", "action_type", "executed_at", "id"),
        Index("ix_actions_source_executed", "source", "executed_at", "id"),
        Index("ix_actions_status_executed", "status", "executed_at", "id"),
        Index("ix_actions_outcome_executed", "outcome", "executed_at", "id"),
        Index("ix_actions_rule_executed", "rule_id", "executed_at", "id"),
        Index("ix_actions_alert_executed", "alert_id", "executed_at", "id"),
        Index("ix_actions_pending_measure", "outcome", "measure_due_at"),
        # the last execution of a rule for a service (cooldowns), and lists by both
        Index("ix_actions_rule_service", "rule_id", "service_name", "executed_at", "id"),
    )


class ServiceState(Base):
    """The desired state of a service: what clients and actuators should converge to."""

    __tablename__ = "ai_service_states"

    service_name: Mapped[str] = mapped_column(String(100), primary_key=True)
    instances: Mapped[int] = mapped_column(Integer, default=1)
    model: Mapped[str | None] = mapped_column(String(200), nullable=True)
    fallback_models: Mapped[list[Any]] = mapped_column(JSONType, default=list)
    fallback_active: Mapped[bool] = mapped_column(Boolean, default=False)
    retry_policy: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    cache_epoch: Mapped[int] = mapped_column(Integer, default=0)
    version: Mapped[int] = mapped_column(Integer, default=1)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
