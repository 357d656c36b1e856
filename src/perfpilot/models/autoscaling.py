from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, Double, Integer, String, false
from sqlalchemy.orm import Mapped, mapped_column

from perfpilot.core.db import Base, UTCDateTime, utcnow

# The row that holds the global default; not a valid service name, so it cannot collide.
GLOBAL_SCOPE = "*"


class AutoscalingConfig(Base):
    """Autoscaling parameters: one global default row and optional per-service overrides."""

    __tablename__ = "ai_autoscaling_configs"

    service_name: Mapped[str] = mapped_column(String(100), primary_key=True)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    metric: Mapped[str] = mapped_column(String(32), default="cpu")
    min_instances: Mapped[int] = mapped_column(Integer, default=2)
    max_instances: Mapped[int] = mapped_column(Integer, default=10)
    target_utilization: Mapped[float] = mapped_column(Double, default=70.0)
    scale_up_threshold: Mapped[float] = mapped_column(Double, default=80.0)
    scale_down_threshold: Mapped[float] = mapped_column(Double, default=30.0)
    cooldown_period: Mapped[int] = mapped_column(Integer, default=300)
    # hpa: the utilisation rule; model: M/M/c sizing to targetLatency (perfpilot.sizing)
    mode: Mapped[str] = mapped_column(String(16), default="hpa", server_default="hpa")
    target_latency: Mapped[float | None] = mapped_column(Double, nullable=True)  # ms
    latency_statistic: Mapped[str] = mapped_column(String(8), default="p95", server_default="p95")
    # scale ahead of a forecast rise of the arrival rate (autoscaling/predictive.py)
    predictive: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    lead_time_seconds: Mapped[float | None] = mapped_column(Double, nullable=True)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
