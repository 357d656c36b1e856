from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import Boolean, Index, String, Text, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from perfpilot.core.db import Base, JSONType, UTCDateTime, new_id, utcnow


class OptimizationRule(Base):
    """A condition on a metric and the action to take when it holds."""

    __tablename__ = "ai_optimization_rules"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    name: Mapped[str] = mapped_column(String(100))
    description: Mapped[str] = mapped_column(Text, default="")
    service_name: Mapped[str | None] = mapped_column(String(100), nullable=True)
    # denormalised from condition/action so list filters stay plain indexed SQL
    metric_type: Mapped[str] = mapped_column(String(32))
    action_type: Mapped[str] = mapped_column(String(32))
    condition: Mapped[dict[str, Any]] = mapped_column(JSONType)
    action: Mapped[dict[str, Any]] = mapped_column(JSONType)
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    __table_args__ = (
        Index("ix_rules_service", "service_name"),
        Index("ix_rules_active_metric", "is_active", "metric_type"),
    )
