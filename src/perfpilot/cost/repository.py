"""SQL for prices and for the per-model figures of a service (samples labelled model=...)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from perfpilot.models import (
    MetricSeries,
    MetricSeriesLabel,
    ModelPrice,
    OptimizationAction,
    PerformanceMetric,
)

MODEL_LABEL = "model"
MAX_VALUES = 100_000


async def all_prices(session: AsyncSession) -> Sequence[ModelPrice]:
    return (await session.execute(select(ModelPrice))).scalars().all()


async def get_price(session: AsyncSession, model: str) -> ModelPrice | None:
    return await session.get(ModelPrice, model)


async def save_price(session: AsyncSession, row: ModelPrice) -> ModelPrice:
    merged = await session.merge(row)
    await session.flush()
    return merged


async def delete_price(session: AsyncSession, row: ModelPrice) -> None:
    await session.delete(row)
    await session.flush()


@dataclass(frozen=True, slots=True)
class TypeStats:
    count: int
    total: float
    first: datetime | None
    last: datetime | None


def _model_series(service_name: str):  # type: ignore[no-untyped-def]
    return (
        select(MetricSeries.id, MetricSeries.metric_type, MetricSeriesLabel.value)
        .join(
            MetricSeriesLabel,
            (MetricSeriesLabel.series_id == MetricSeries.id)
            & (MetricSeriesLabel.name == MODEL_LABEL),
        )
        .where(MetricSeries.service_name == service_name)
    )


async def model_series(session: AsyncSession, service_name: str) -> dict[str, dict[str, list[int]]]:
    """model -> metric type -> ids of the service's series labelled with that model."""
    out: dict[str, dict[str, list[int]]] = {}
    for series_id, metric_type, model in (await session.execute(_model_series(service_name))).all():
        out.setdefault(model, {}).setdefault(metric_type, []).append(int(series_id))
    return out


async def type_stats(
    session: AsyncSession, series_ids: Sequence[int], start: datetime, end: datetime
) -> TypeStats:
    m = PerformanceMetric
    query = select(
        func.count(), func.sum(m.value), func.min(m.timestamp), func.max(m.timestamp)
    ).where(m.series_id.in_(list(series_ids)), m.timestamp >= start, m.timestamp < end)
    count, total, first, last = (await session.execute(query)).one()
    return TypeStats(int(count), float(total or 0.0), _aware(first), _aware(last))


async def values(
    session: AsyncSession, series_ids: Sequence[int], start: datetime, end: datetime
) -> list[float]:
    m = PerformanceMetric
    query = (
        select(m.value)
        .where(m.series_id.in_(list(series_ids)), m.timestamp >= start, m.timestamp < end)
        .limit(MAX_VALUES)
    )
    return [float(v) for v in (await session.execute(query)).scalars().all()]


def _aware(value: datetime | str | None) -> datetime | None:
    """min/max of a timestamp come back as text on SQLite."""
    if value is None:
        return None
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value


async def measured_model_switches(
    session: AsyncSession, service_name: str
) -> Sequence[OptimizationAction]:
    """The service's executed model switches with a measured value, newest first."""
    a = OptimizationAction
    query = (
        select(a)
        .where(
            a.service_name == service_name,
            a.action_type == "model_switch",
            a.status == "executed",
            a.measured_value.is_not(None),
        )
        .order_by(a.executed_at.desc())
        .limit(200)
    )
    return (await session.execute(query)).scalars().all()
