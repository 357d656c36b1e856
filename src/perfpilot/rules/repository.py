"""SQL for rules."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from perfpilot.models import OptimizationRule


async def get_rule(session: AsyncSession, rule_id: uuid.UUID) -> OptimizationRule | None:
    return await session.get(OptimizationRule, rule_id)


async def list_rules(
    session: AsyncSession,
    *,
    service_name: str | None = None,
    is_active: bool | None = None,
    action_type: str | None = None,
    metric_type: str | None = None,
) -> Sequence[OptimizationRule]:
    query = select(OptimizationRule)
    if service_name is not None:
        query = query.where(OptimizationRule.service_name == service_name)
    if is_active is not None:
        query = query.where(OptimizationRule.is_active.is_(is_active))
    if action_type is not None:
        query = query.where(OptimizationRule.action_type == action_type)
    if metric_type is not None:
        query = query.where(OptimizationRule.metric_type == metric_type)
    query = query.order_by(OptimizationRule.created_at, OptimizationRule.id)
    return (await session.execute(query)).scalars().all()


async def missing_rule_ids(session: AsyncSession, rule_ids: Iterable[str]) -> set[str]:
    """Which of these rule ids no longer name a stored rule."""
    wanted = {uuid.UUID(rule_id) for rule_id in rule_ids}
    if not wanted:
        return set()
    query = select(OptimizationRule.id).where(OptimizationRule.id.in_(wanted))
    found = set((await session.execute(query)).scalars().all())
    return {str(rule_id) for rule_id in wanted - found}


async def add_rule(session: AsyncSession, rule: OptimizationRule) -> OptimizationRule:
    session.add(rule)
    await session.flush()
    return rule


async def delete_rule(session: AsyncSession, rule: OptimizationRule) -> None:
    await session.delete(rule)
    await session.flush()
