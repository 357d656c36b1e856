from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import Double, Index, String, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from perfpilot.core.db import Base, JSONType, UTCDateTime, new_id


class PerformanceMetric(Base):
    """One sample, its value in the canonical unit of its type."""

    __tablename__ = "ai_performance_metrics"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    service_name: Mapped[str] = mapped_column(String(100))
    metric_type: Mapped[str] = mapped_column(String(32))
    value: Mapped[float] = mapped_column(Double)
    unit: Mapped[str] = mapped_column(String(16))
    timestamp: Mapped[datetime] = mapped_column(UTCDateTime)
    meta: Mapped[dict[str, Any]] = mapped_column("metadata", JSONType, default=dict)

    # GET /metrics pages newest first on (timestamp, id) under any mix of service and type:
    # one index per mix, each ending in (timestamp, id), so a page is one index range with no
    # sort (tests/integration/test_query_plans.py). Four is the least that covers the mixes.
    __table_args__ = (
        # value included: a series' aggregates read the index alone (reports, live views)
        Index(
            "ix_metrics_service_type_ts",
            "service_name",
            "metric_type",
            "timestamp",
            "id",
            "value",
        ),
        Index("ix_metrics_service_ts", "service_name", "timestamp", "id"),
        Index("ix_metrics_type_ts", "metric_type", "timestamp", "id"),
        # no service or type filter, and retention by age
        Index("ix_metrics_ts", "timestamp", "id"),
    )
