"""SQL for autoscaling configurations: one global row and per-service overrides."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from perfpilot.models import GLOBAL_SCOPE, AutoscalingConfig


async def get_config(session: AsyncSession, scope: str) -> AutoscalingConfig | None:
    return await session.get(AutoscalingConfig, scope)


async def all_configs(session: AsyncSession) -> Sequence[AutoscalingConfig]:
    return (await session.execute(select(AutoscalingConfig))).scalars().all()


async def save_config(session: AsyncSession, config: AutoscalingConfig) -> AutoscalingConfig:
    merged = await session.merge(config)
    await session.flush()
    return merged


def default_config() -> AutoscalingConfig:
    """The seed's defaults, used until someone PUTs a global configuration."""
    return AutoscalingConfig(
        service_name=GLOBAL_SCOPE,
        enabled=True,
        metric="cpu",
        min_instances=2,
        max_instances=10,
        target_utilization=70.0,
        scale_up_threshold=80.0,
        scale_down_threshold=30.0,
        cooldown_period=300,
        mode="hpa",
        target_latency=None,
        latency_statistic="p95",
        predictive=False,
        lead_time_seconds=None,
    )
