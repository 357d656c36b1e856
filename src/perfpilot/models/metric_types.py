from __future__ import annotations

from datetime import datetime

from sqlalchemy import Double, String
from sqlalchemy.orm import Mapped, mapped_column

from perfpilot.core.db import Base, JSONType, UTCDateTime, utcnow


class UserMetricType(Base):
    """A metric type defined by a user (POST /metric-types); the built-ins live in code."""

    __tablename__ = "ai_metric_types"

    name: Mapped[str] = mapped_column(String(32), primary_key=True)
    unit: Mapped[str] = mapped_column(String(16))
    # accepted unit -> factor to `unit`
    units: Mapped[dict[str, float]] = mapped_column(JSONType, default=dict)
    better: Mapped[str] = mapped_column(String(8))
    minimum: Mapped[float | None] = mapped_column(Double, nullable=True)
    maximum: Mapped[float | None] = mapped_column(Double, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
