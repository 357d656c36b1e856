"""SQL for silences."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from perfpilot.models import Silence


async def add(session: AsyncSession, silence: Silence) -> None:
    session.add(silence)
    await session.flush()


async def get(session: AsyncSession, silence_id: uuid.UUID) -> Silence | None:
    return await session.get(Silence, silence_id)


async def list_silences(
    session: AsyncSession, *, limit: int, ended_after: datetime | None = None
) -> Sequence[Silence]:
    """Newest first; `ended_after`: only those whose end is later (not expired then)."""
    query = select(Silence)
    if ended_after is not None:
        query = query.where(Silence.ends_at > ended_after)
    query = query.order_by(Silence.created_at.desc(), Silence.id.desc()).limit(limit)
    return (await session.execute(query)).scalars().all()


async def unended(session: AsyncSession, now: datetime) -> Sequence[Silence]:
    query = select(Silence).where(Silence.ends_at > now)
    return (await session.execute(query)).scalars().all()
