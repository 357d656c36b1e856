from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import Index, String, Text, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from perfpilot.core.db import Base, JSONType, UTCDateTime, new_id, utcnow


class Silence(Base):
    """A time window in which alerts matching `matchers` notify nobody and run no action.

    Never deleted: expiring one sets `ends_at` to the moment it was expired (audit trail)."""

    __tablename__ = "ai_silences"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    # [{label, op, value}] as rule matchers (engine/selectors.py)
    matchers: Mapped[list[dict[str, Any]]] = mapped_column(JSONType)
    starts_at: Mapped[datetime] = mapped_column(UTCDateTime)
    ends_at: Mapped[datetime] = mapped_column(UTCDateTime)
    created_by: Mapped[str] = mapped_column(String(200))
    comment: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expired_by: Mapped[str | None] = mapped_column(String(200), nullable=True)

    # the silences that can still apply are those whose end is ahead: a range of this index
    __table_args__ = (Index("ix_silences_ends_at", "ends_at"),)
