from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from perfpilot.core.db import Base, UTCDateTime, utcnow


class EngineShard(Base):
    """Where the engine stands in one shard's samples (PostgreSQL scale-out, DESIGN §12).

    `watermark`: every sample whose inserting transaction id (ingest_xid) is below it has been
    evaluated; written in the same transaction as the engine step that evaluated them, so a
    new owner continues exactly where the old one committed. `owner`: the replica that last
    committed a step for the shard (for admins; the advisory lock is what grants ownership).
    """

    __tablename__ = "ai_engine_shards"

    shard: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    watermark: Mapped[int] = mapped_column(BigInteger)
    owner: Mapped[str | None] = mapped_column(String(200), nullable=True)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
