"""SQL for actions, desired service states and the sample aggregates impact checks need."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from perfpilot.core.pagination import after_cursor, newest_first
from perfpilot.models import (
    OptimizationAction,
    OptimizationRule,
    PerformanceAlert,
    PerformanceMetric,
    ServiceState,
)
from perfpilot.models.alerts import OPEN_STATUSES


async def get_state(session: AsyncSession, service_name: str) -> ServiceState | None:
    return await session.get(ServiceState, service_name)


async def list_states(session: AsyncSession) -> Sequence[ServiceState]:
    query = select(ServiceState).order_by(ServiceState.service_name)
    return (await session.execute(query)).scalars().all()


async def add(session: AsyncSession, row: OptimizationAction | ServiceState) -> None:
    session.add(row)
    await session.flush()


async def get_action(session: AsyncSession, action_id: uuid.UUID) -> OptimizationAction | None:
    return await session.get(OptimizationAction, action_id)


async def last_executed_at(
    session: AsyncSession, *, rule_id: uuid.UUID, service_name: str
) -> datetime | None:
    query = select(func.max(OptimizationAction.executed_at)).where(
        OptimizationAction.rule_id == rule_id,
        OptimizationAction.service_name == service_name,
        OptimizationAction.status == "executed",
    )
    return (await session.execute(query)).scalar_one_or_none()


async def executed_for_alert(
    session: AsyncSession, alert_id: uuid.UUID
) -> Sequence[OptimizationAction]:
    query = (
        select(OptimizationAction)
        .where(OptimizationAction.alert_id == alert_id, OptimizationAction.status == "executed")
        .order_by(OptimizationAction.executed_at)
    )
    return (await session.execute(query)).scalars().all()


async def unactioned_open_alerts(session: AsyncSession) -> Sequence[PerformanceAlert]:
    """Open alerts of rules that have no action row for them at all: their firing was
    committed but its action was not (engine/persist.py), oldest first."""
    acted = select(OptimizationAction.id).where(OptimizationAction.alert_id == PerformanceAlert.id)
    query = (
        select(PerformanceAlert)
        .where(
            PerformanceAlert.status.in_(OPEN_STATUSES),
            PerformanceAlert.rule_id.is_not(None),
            ~acted.exists(),
        )
        .order_by(PerformanceAlert.triggered_at, PerformanceAlert.id)
    )
    return (await session.execute(query)).scalars().all()


async def due_measurements(
    session: AsyncSession, *, due_by: datetime, limit: int = 100
) -> Sequence[OptimizationAction]:
    """Executed actions waiting for their impact measurement, due by `due_by`, oldest first."""
    query = (
        select(OptimizationAction)
        .where(
            OptimizationAction.status == "executed",
            OptimizationAction.outcome.is_(None),
            OptimizationAction.measure_due_at <= due_by,
        )
        .order_by(OptimizationAction.measure_due_at)
        .limit(limit)
    )
    return (await session.execute(query)).scalars().all()


async def overlapping_actions(
    session: AsyncSession,
    *,
    service_name: str,
    start: datetime,
    end: datetime,
    exclude: uuid.UUID,
) -> Sequence[OptimizationAction]:
    """Executed actions of the service whose measurement window (executed_at, due) meets
    (start, end)."""
    query = select(OptimizationAction).where(
        OptimizationAction.service_name == service_name,
        OptimizationAction.status == "executed",
        OptimizationAction.measure_due_at.is_not(None),
        OptimizationAction.executed_at < end,
        OptimizationAction.measure_due_at > start,
        OptimizationAction.id != exclude,
    )
    return (await session.execute(query)).scalars().all()


async def measured_impacts(
    session: AsyncSession, *, service_name: str, action_type: str, metric_type: str
) -> list[float]:
    """Measured impacts of credited actions (an overlapped one's figure is not its own)."""
    query = select(OptimizationAction.measured_impact).where(
        OptimizationAction.service_name == service_name,
        OptimizationAction.action_type == action_type,
        OptimizationAction.metric_type == metric_type,
        OptimizationAction.measured_impact.is_not(None),
        OptimizationAction.credited.is_(True),
    )
    return [float(v) for v in (await session.execute(query)).scalars().all() if v is not None]


@dataclass(frozen=True, slots=True)
class ActionFilter:
    service_name: str | None = None
    action_type: str | None = None
    source: str | None = None
    status: str | None = None
    outcome: str | None = None
    rule_id: uuid.UUID | None = None
    alert_id: uuid.UUID | None = None


async def list_actions(
    session: AsyncSession,
    filters: ActionFilter,
    *,
    limit: int,
    after: tuple[datetime, uuid.UUID] | None = None,
) -> Sequence[OptimizationAction]:
    """Newest first, keyset-paged on (executed_at, id); each filter leads an index that ends
    in (executed_at, id), so any combination is a range of one of them."""
    query = select(OptimizationAction)
    for column, value in (
        (OptimizationAction.service_name, filters.service_name),
        (OptimizationAction.action_type, filters.action_type),
        (OptimizationAction.source, filters.source),
        (OptimizationAction.status, filters.status),
        (OptimizationAction.outcome, filters.outcome),
        (OptimizationAction.rule_id, filters.rule_id),
        (OptimizationAction.alert_id, filters.alert_id),
    ):
        if value is not None:
            query = query.where(column == value)
    if after is not None:
        query = query.where(
            after_cursor(OptimizationAction.executed_at, OptimizationAction.id, after)
        )
    query = query.order_by(*newest_first(OptimizationAction.executed_at, OptimizationAction.id))
    return (await session.execute(query.limit(limit))).scalars().all()


async def get_rule(session: AsyncSession, rule_id: uuid.UUID) -> OptimizationRule | None:
    return await session.get(OptimizationRule, rule_id)


async def sample_values(
    session: AsyncSession,
    *,
    service_name: str,
    metric_type: str,
    start: datetime,
    end: datetime,
    limit: int = 100_000,
) -> list[float]:
    """Values of one series with start < timestamp <= end (an impact window: small)."""
    query = (
        select(PerformanceMetric.value)
        .where(
            PerformanceMetric.service_name == service_name,
            PerformanceMetric.metric_type == metric_type,
            PerformanceMetric.timestamp > start,
            PerformanceMetric.timestamp <= end,
        )
        .order_by(PerformanceMetric.timestamp)
        .limit(limit)
    )
    return [float(v) for v in (await session.execute(query)).scalars().all()]


async def latest_sample_at(
    session: AsyncSession, *, service_name: str, metric_type: str
) -> datetime | None:
    query = select(func.max(PerformanceMetric.timestamp)).where(
        PerformanceMetric.service_name == service_name,
        PerformanceMetric.metric_type == metric_type,
    )
    return (await session.execute(query)).scalar_one_or_none()


async def utilization_by_service(
    session: AsyncSession, *, metric_type: str, start: datetime, end: datetime
) -> list[tuple[str, float, int]]:
    """(service, average, samples) of one metric over (start, end], for the autoscaler."""
    query = (
        select(
            PerformanceMetric.service_name,
            func.avg(PerformanceMetric.value),
            func.count(),
        )
        .where(
            PerformanceMetric.metric_type == metric_type,
            PerformanceMetric.timestamp > start,
            PerformanceMetric.timestamp <= end,
        )
        .group_by(PerformanceMetric.service_name)
    )
    return [(str(s), float(a), int(n)) for s, a, n in (await session.execute(query)).all()]
