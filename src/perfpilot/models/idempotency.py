from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from perfpilot.core.db import Base, UTCDateTime

# How long a key is honoured: a repeat within it is answered from the row, not stored again.
IDEMPOTENCY_KEY_TTL = timedelta(hours=24)


class IdempotencyKey(Base):
    """A client's `Idempotency-Key` on an ingestion request, and the response it got.

    Written in the transaction that commits the request's samples, so "stored" and "key
    recorded" are one fact; the primary key (subject, key) refuses a second request with the
    same key. Rows live 24 hours (the retention loop prunes them).
    """

    __tablename__ = "ai_idempotency_keys"

    # the token subject, or "sha256:<hex>" of it when longer than 255 characters
    subject: Mapped[str] = mapped_column(String(255), primary_key=True)
    key: Mapped[str] = mapped_column(String(255), primary_key=True)
    # sha256 of the route and the body bytes: a different request under the same key is refused
    request_hash: Mapped[str] = mapped_column(String(64))
    status_code: Mapped[int] = mapped_column(Integer)
    response_body: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)

    __table_args__ = (Index("ix_idempotency_keys_created_at", "created_at"),)
