from __future__ import annotations

from datetime import datetime

from sqlalchemy import Double, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from perfpilot.core.db import Base, UTCDateTime, utcnow


class ModelPrice(Base):
    """An operator's price for one model (overrides the shipped default table)."""

    __tablename__ = "ai_model_prices"

    model: Mapped[str] = mapped_column(String(200), primary_key=True)
    input_per_mtok: Mapped[float] = mapped_column(Double)  # USD per 1M input tokens
    output_per_mtok: Mapped[float] = mapped_column(Double)  # USD per 1M output tokens
    currency: Mapped[str] = mapped_column(String(3), default="USD")
    valid_from: Mapped[datetime] = mapped_column(UTCDateTime)
    source: Mapped[str | None] = mapped_column(Text, nullable=True)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
