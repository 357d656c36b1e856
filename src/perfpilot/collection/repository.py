"""SQL for scrape targets."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from perfpilot.models import ScrapeTarget


async def get_target(session: AsyncSession, target_id: uuid.UUID) -> ScrapeTarget | None:
    return await session.get(ScrapeTarget, target_id)


async def list_targets(session: AsyncSession) -> Sequence[ScrapeTarget]:
    result = await session.execute(
        select(ScrapeTarget).order_by(ScrapeTarget.created_at, ScrapeTarget.id)
    )
    return result.scalars().all()


async def add_target(session: AsyncSession, target: ScrapeTarget) -> None:
    session.add(target)
    await session.flush()


async def delete_target(session: AsyncSession, target: ScrapeTarget) -> None:
    await session.delete(target)
    await session.flush()


async def load_active_targets(
    sessions: async_sessionmaker[AsyncSession],
) -> list[ScrapeTarget]:
    """Every active target, detached from its session (the scheduler keeps them)."""
    async with sessions() as session:
        result = await session.execute(select(ScrapeTarget).where(ScrapeTarget.is_active.is_(True)))
        targets = list(result.scalars().all())
        session.expunge_all()
        return targets
