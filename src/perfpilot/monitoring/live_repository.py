"""SQL for /stats: the store-wide counts. (The per-service live views read
services/repository.py.)"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import case, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from perfpilot.actions.impact import SUCCESSES
from perfpilot.models import (
    OptimizationAction,
    OptimizationRule,
    PerformanceAlert,
    PerformanceMetric,
)


async def metric_counts(session: AsyncSession) -> dict[str, int]:
    """Samples per type. Grouped by (service, type) first: that is the index order, so
    SQLite counts in one streaming pass over the index instead of sorting every row."""
    m = PerformanceMetric
    per_series = (
        select(m.metric_type, func.count().label("n"))
        .group_by(m.service_name, m.metric_type)
        .subquery()
    )
    query = select(per_series.c.metric_type, func.sum(per_series.c.n)).group_by(
        per_series.c.metric_type
    )
    return {t: int(n) for t, n in (await session.execute(query)).all()}


async def rule_counts(session: AsyncSession) -> list[tuple[str, bool, int]]:
    r = OptimizationRule
    query = select(r.action_type, r.is_active, func.count()).group_by(r.action_type, r.is_active)
    return [(t, bool(active), int(n)) for t, active, n in (await session.execute(query)).all()]


async def alert_counts(session: AsyncSession) -> list[tuple[str, str, int]]:
    a = PerformanceAlert
    query = select(a.status, a.severity, func.count()).group_by(a.status, a.severity)
    return [(status, sev, int(n)) for status, sev, n in (await session.execute(query)).all()]


@dataclass(frozen=True, slots=True)
class ActionCounts:
    executed: int
    improved: int
    failed: int
    measured: int
    mean_impact: float | None


async def action_counts(session: AsyncSession) -> ActionCounts:
    a = OptimizationAction
    executed = a.status == "executed"
    # an overlap group is credited once (actions/overlaps.py): only its first action counts
    credited = executed & a.credited.is_(True)
    measured = credited & a.measured_impact.is_not(None)
    success = a.outcome.in_(sorted(SUCCESSES))
    query = select(
        func.sum(case((executed, 1), else_=0)),
        func.sum(case((credited & success, 1), else_=0)),
        func.sum(
            case(((a.status == "failed") | (credited & (a.outcome == "worsened")), 1), else_=0)
        ),
        func.sum(case((measured, 1), else_=0)),
        func.avg(case((measured, a.measured_impact), else_=None)),
    )
    row = (await session.execute(query)).one()
    return ActionCounts(
        executed=int(row[0] or 0),
        improved=int(row[1] or 0),
        failed=int(row[2] or 0),
        measured=int(row[3] or 0),
        mean_impact=None if row[4] is None else float(row[4]),
    )
