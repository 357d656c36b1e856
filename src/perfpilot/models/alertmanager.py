from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import Boolean, Double, ForeignKey, Index, Integer, String, Text, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from perfpilot.core.db import Base, JSONType, UTCDateTime


class AlertmanagerNotice(Base):
    """What one Alertmanager has been told about one alert (alertmanager/sender.py): when it
    last received the alert firing, and whether its end has been delivered. A row exists from
    the first attempt on, so an alert that resolves while that Alertmanager is down still has
    its end delivered once it is back."""

    __tablename__ = "ai_alertmanager_notices"

    # sha256 of the Alertmanager's base URL, first 16 hex digits
    target: Mapped[str] = mapped_column(String(16), primary_key=True)
    alert_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("ai_performance_alerts.id", ondelete="CASCADE"), primary_key=True
    )
    last_sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    ended_sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text, nullable=True)

    # ends still to deliver, per Alertmanager
    __table_args__ = (Index("ix_am_notices_target_ended", "target", "ended_sent_at"),)


class AlertmanagerBinding(Base):
    """Maps alerts received from Alertmanager (by label matchers) to a service and an action,
    run like a rule's action: cooldown, revert on resolve, impact measured on `metric`."""

    __tablename__ = "ai_alertmanager_bindings"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    matchers: Mapped[list[dict[str, Any]]] = mapped_column(JSONType)
    service_name: Mapped[str | None] = mapped_column(String(100), nullable=True)
    service_label: Mapped[str] = mapped_column(String(64), default="service")
    # as a rule's stored action: type, parameters, priority, cooldown, revertOnResolve
    action: Mapped[dict[str, Any]] = mapped_column(JSONType)
    metric: Mapped[str | None] = mapped_column(String(32), nullable=True)
    aggregation: Mapped[str] = mapped_column(String(8), default="avg")
    window: Mapped[float] = mapped_column(Double, default=60.0)
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    # service -> when this binding's action last executed for it (cooldown)
    last_executed: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)
