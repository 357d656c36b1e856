"""SQL for user-defined metric types, and whether anything still refers to one."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from perfpilot.models import (
    AutoscalingConfig,
    OptimizationRule,
    PerformanceHistogram,
    PerformanceMetric,
    UserMetricType,
)


async def list_user_types(session: AsyncSession) -> Sequence[UserMetricType]:
    result = await session.execute(select(UserMetricType).order_by(UserMetricType.name))
    return result.scalars().all()


async def get_user_type(session: AsyncSession, name: str) -> UserMetricType | None:
    return await session.get(UserMetricType, name)


async def add_user_type(session: AsyncSession, row: UserMetricType) -> None:
    session.add(row)
    await session.flush()


async def delete_user_type(session: AsyncSession, row: UserMetricType) -> None:
    await session.delete(row)
    await session.flush()


async def references(session: AsyncSession, name: str) -> list[str]:
    """What refers to the type: 'samples', 'rules', 'autoscaling' (each an index seek)."""
    found = []
    checks = (
        ("samples", select(PerformanceMetric.id).where(PerformanceMetric.metric_type == name)),
        (
            "histogram samples",
            select(PerformanceHistogram.id).where(PerformanceHistogram.metric_type == name),
        ),
        ("rules", select(OptimizationRule.id).where(OptimizationRule.metric_type == name)),
        (
            "autoscaling",
            select(AutoscalingConfig.service_name).where(AutoscalingConfig.metric == name),
        ),
    )
    for what, query in checks:
        if (await session.execute(query.limit(1))).first() is not None:
            found.append(what)
    return found
