"""SQL for stored reports and for the alerts, rules and actions a report summarises."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Float, and_, case, cast, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from perfpilot.models import OptimizationAction, OptimizationReport, OptimizationRule
from perfpilot.models import PerformanceAlert as Alert
from perfpilot.reports.series_repository import dialect_of


async def add_report(session: AsyncSession, report: OptimizationReport) -> None:
    session.add(report)
    await session.flush()


async def get_report(session: AsyncSession, report_id: uuid.UUID) -> OptimizationReport | None:
    return await session.get(OptimizationReport, report_id)


async def list_reports(
    session: AsyncSession,
    *,
    service_name: str | None,
    report_type: str | None,
    limit: int,
    after: tuple[datetime, uuid.UUID] | None,
) -> Sequence[OptimizationReport]:
    """Newest first, keyset-paged on (generated_at, id)."""
    r = OptimizationReport
    query = select(r)
    if service_name is not None:
        query = query.where(r.service_name == service_name)
    if report_type is not None:
        query = query.where(r.report_type == report_type)
    if after is not None:
        ts, last_id = after
        query = query.where(or_(r.generated_at < ts, and_(r.generated_at == ts, r.id < last_id)))
    query = query.order_by(r.generated_at.desc(), r.id.desc()).limit(limit)
    return (await session.execute(query)).scalars().all()


async def alert_counts(
    session: AsyncSession, service_name: str, start: datetime, end: datetime
) -> dict[str, int]:
    """Alerts triggered in [start, end), by severity."""
    query = (
        select(Alert.severity, func.count())
        .where(
            Alert.service_name == service_name,
            Alert.triggered_at >= start,
            Alert.triggered_at < end,
        )
        .group_by(Alert.severity)
    )
    return {severity: int(n) for severity, n in (await session.execute(query)).all()}


async def silenced_alert_count(
    session: AsyncSession, service_name: str, start: datetime, end: datetime
) -> int:
    """Alerts triggered in [start, end) that a silence muted at some point (metadata
    `wasSilenced`; counted here, not in SQL: JSON paths differ between the stores)."""
    query = select(Alert.meta).where(
        Alert.service_name == service_name,
        Alert.triggered_at >= start,
        Alert.triggered_at < end,
    )
    return sum(1 for (meta,) in await session.execute(query) if (meta or {}).get("wasSilenced"))


def _seconds(session: AsyncSession, later: Any, earlier: Any) -> ColumnElement[float]:
    if dialect_of(session) == "sqlite":
        return cast((func.julianday(later) - func.julianday(earlier)) * 86400.0, Float)
    return cast(func.extract("epoch", later - earlier), Float)


@dataclass(frozen=True, slots=True)
class RuleFirings:
    rule_id: uuid.UUID
    name: str
    condition: dict[str, Any]
    firings: int
    short_lived: int
    resolved: int
    mean_duration_seconds: float | None


async def rule_firings(
    session: AsyncSession,
    service_name: str,
    start: datetime,
    end: datetime,
    *,
    min_firings: int,
    short_seconds: float,
) -> list[RuleFirings]:
    """Rules that fired at least `min_firings` times in [start, end), with how many of those
    alerts were resolved within `short_seconds`."""
    duration = _seconds(session, Alert.resolved_at, Alert.triggered_at)
    resolved = Alert.resolved_at.is_not(None)
    query = (
        select(
            Alert.rule_id,
            func.count(),
            func.sum(case((and_(resolved, duration <= short_seconds), 1), else_=0)),
            func.sum(case((resolved, 1), else_=0)),
            func.avg(case((resolved, duration), else_=None)),
        )
        .where(
            Alert.service_name == service_name,
            Alert.triggered_at >= start,
            Alert.triggered_at < end,
            Alert.rule_id.is_not(None),
        )
        .group_by(Alert.rule_id)
        .having(func.count() >= min_firings)
    )
    rows = (await session.execute(query)).all()
    if not rows:
        return []
    rules = {
        rule.id: rule
        for rule in (
            await session.execute(
                select(OptimizationRule).where(OptimizationRule.id.in_([r[0] for r in rows]))
            )
        ).scalars()
    }
    out = [
        RuleFirings(
            rule_id=r[0],
            name=rules[r[0]].name,
            condition=dict(rules[r[0]].condition or {}),
            firings=int(r[1]),
            short_lived=int(r[2] or 0),
            resolved=int(r[3] or 0),
            mean_duration_seconds=None if r[4] is None else float(r[4]),
        )
        for r in rows
        if r[0] in rules
    ]
    return sorted(out, key=lambda f: (-f.firings, f.name))


@dataclass(frozen=True, slots=True)
class ActionGroup:
    """Actions of one (type, metric, status, outcome, credited) in the period."""

    action_type: str
    metric_type: str | None
    status: str
    outcome: str | None
    count: int
    impact_sum: float
    impact_count: int
    credited: bool = True  # False: an earlier overlapping action carries the measurement


async def action_groups(
    session: AsyncSession, service_name: str, start: datetime, end: datetime
) -> list[ActionGroup]:
    a = OptimizationAction
    query = (
        select(
            a.action_type,
            a.metric_type,
            a.status,
            a.outcome,
            func.count(),
            func.sum(a.measured_impact),
            func.count(a.measured_impact),
            a.credited,
        )
        .where(a.service_name == service_name, a.executed_at >= start, a.executed_at < end)
        .group_by(a.action_type, a.metric_type, a.status, a.outcome, a.credited)
    )
    return [
        ActionGroup(
            r[0], r[1], r[2], r[3], int(r[4]), float(r[5] or 0.0), int(r[6]), r[7] is not False
        )
        for r in (await session.execute(query)).all()
    ]
