from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import Index, String, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from perfpilot.core.db import Base, JSONType, UTCDateTime, new_id, utcnow


class OptimizationReport(Base):
    """A stored report over a period: summary, optimizations, recommendations."""

    __tablename__ = "ai_optimization_reports"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    service_name: Mapped[str] = mapped_column(String(100))
    report_type: Mapped[str] = mapped_column(String(16))
    period: Mapped[dict[str, Any]] = mapped_column(JSONType)
    summary: Mapped[dict[str, Any]] = mapped_column(JSONType)
    optimizations: Mapped[list[Any]] = mapped_column(JSONType, default=list)
    recommendations: Mapped[list[Any]] = mapped_column(JSONType, default=list)
    generated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    __table_args__ = (Index("ix_reports_service_generated", "service_name", "generated_at"),)
