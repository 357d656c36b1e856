from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import Boolean, Float, String, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from perfpilot.core.db import Base, JSONType, UTCDateTime, new_id, utcnow


class ScrapeTarget(Base):
    """A Prometheus /metrics endpoint Perfpilot scrapes (DESIGN §10). `headers` are sent with
    each scrape and never returned by the API."""

    __tablename__ = "ai_scrape_targets"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    url: Mapped[str] = mapped_column(String(2000))
    service_name: Mapped[str] = mapped_column(String(100), index=True)
    preset: Mapped[str] = mapped_column(String(32))
    # the `prometheus` preset's explicit mapping: name -> {type, kind, unit}
    mapping: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    interval_seconds: Mapped[float] = mapped_column(Float, default=30.0)
    timeout_seconds: Mapped[float] = mapped_column(Float, default=10.0)
    labels: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    headers: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
