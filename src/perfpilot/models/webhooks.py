from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import Boolean, Double, ForeignKey, Index, Integer, String, Text, Uuid, text
from sqlalchemy.orm import Mapped, mapped_column

from perfpilot.core.db import Base, JSONType, UTCDateTime, new_id, utcnow


class Webhook(Base):
    """A subscription: where to POST which events, and the secret that signs them."""

    __tablename__ = "ai_webhooks"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    url: Mapped[str] = mapped_column(String(2000))
    secret: Mapped[str] = mapped_column(String(200))
    events: Mapped[list[Any]] = mapped_column(JSONType, default=list)
    service_name: Mapped[str | None] = mapped_column(String(100), nullable=True)
    description: Mapped[str] = mapped_column(Text, default="")
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # grouping (Alertmanager's meaning, webhooks/grouping.py); group_wait 0: one per event
    group_by: Mapped[list[Any]] = mapped_column(JSONType, default=list, server_default=text("'[]'"))
    group_wait: Mapped[float] = mapped_column(Double, default=0.0, server_default=text("0"))
    group_interval: Mapped[float] = mapped_column(Double, default=300.0, server_default=text("300"))


class WebhookGroup(Base):
    """Alert events of one subscription's group waiting to go out as one delivery."""

    __tablename__ = "ai_webhook_groups"

    webhook_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("ai_webhooks.id", ondelete="CASCADE"), primary_key=True
    )
    group_key: Mapped[str] = mapped_column(String(64), primary_key=True)
    group_labels: Mapped[dict[str, Any]] = mapped_column(JSONType)
    # [{"event", "alert" (Alertmanager v4 alert), "perfpilot" (details)}], oldest first
    items: Mapped[list[Any]] = mapped_column(JSONType, default=list)
    flush_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    last_flushed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)

    __table_args__ = (Index("ix_webhook_groups_flush_at", "flush_at"),)


class WebhookDelivery(Base):
    """The durable outbox: one row per (event, subscription), written with the change itself."""

    __tablename__ = "ai_webhook_deliveries"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    webhook_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("ai_webhooks.id", ondelete="CASCADE")
    )
    event: Mapped[str] = mapped_column(String(64))
    idempotency_key: Mapped[str] = mapped_column(String(100))
    body: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    # not before this time; while a dispatcher holds the row it is the lease's end
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    last_error: Mapped[str | None] = mapped_column(Text, nullable=True)
    last_status_code: Mapped[int | None] = mapped_column(Integer, nullable=True)
    # when the underlying event happened (sample time for alerts): for delivery latency
    event_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)

    __table_args__ = (
        Index("ix_deliveries_status_next", "status", "next_attempt_at"),
        Index("ix_deliveries_webhook", "webhook_id", "created_at"),
    )
