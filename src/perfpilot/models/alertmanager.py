from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import ForeignKey, Index, Integer, String, Text, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from perfpilot.core.db import Base, UTCDateTime


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
