from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import BigInteger, Double, Index, String, Uuid, text
from sqlalchemy.orm import Mapped, mapped_column

from perfpilot.core.db import Base, JSONType, UTCDateTime, new_id


class PerformanceHistogram(Base):
    """One histogram sample: the bucket counts of an interval's observations, ending at
    `timestamp`; bounds and sum in the canonical unit of the type (last bucket: +Inf)."""

    __tablename__ = "ai_performance_histograms"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    service_name: Mapped[str] = mapped_column(String(100))
    metric_type: Mapped[str] = mapped_column(String(32))
    unit: Mapped[str] = mapped_column(String(16))
    timestamp: Mapped[datetime] = mapped_column(UTCDateTime)
    interval_seconds: Mapped[float | None] = mapped_column(Double, nullable=True)
    bounds: Mapped[list[float]] = mapped_column(JSONType)
    counts: Mapped[list[int]] = mapped_column(JSONType)
    sum: Mapped[float] = mapped_column(Double)
    count: Mapped[int] = mapped_column(BigInteger)
    meta: Mapped[dict[str, object]] = mapped_column("metadata", JSONType, default=dict)
    series_id: Mapped[int | None] = mapped_column(BigInteger, nullable=True)  # labelled series

    # the same listing indexes as ai_performance_metrics (GET /metrics merges both)
    __table_args__ = (
        Index("ix_histograms_service_type_ts", "service_name", "metric_type", "timestamp", "id"),
        Index("ix_histograms_service_ts", "service_name", "timestamp", "id"),
        Index("ix_histograms_type_ts", "metric_type", "timestamp", "id"),
        Index("ix_histograms_ts", "timestamp", "id"),
        Index(
            "ix_histograms_series_ts",
            "series_id",
            "timestamp",
            "id",
            sqlite_where=text("series_id IS NOT NULL"),
            postgresql_where=text("series_id IS NOT NULL"),
        ),
    )
