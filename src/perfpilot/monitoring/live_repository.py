"""SQL for the live views: latest values per service and type, and the store-wide counts.

Both use the (service_name, metric_type, timestamp) index: a loose index scan finds the
services (one seek per service, however many samples), and the latest sample of a series is
one seek from the end of its range.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import String, case, func, literal, select, text, union_all
from sqlalchemy.ext.asyncio import AsyncSession

from perfpilot.actions.impact import SUCCESSES
from perfpilot.models import (
    OptimizationAction,
    OptimizationRule,
    PerformanceAlert,
    PerformanceMetric,
    ServiceState,
)
from perfpilot.models.alerts import OPEN_STATUSES

# a UNION ALL arm per (service, type): keep statements to a sane size
_PAIRS_PER_STATEMENT = 400


async def metric_service_names(session: AsyncSession) -> list[str]:
    """Distinct services with samples: loose index scan, one seek per service."""
    query = text(
        "WITH RECURSIVE names(name) AS ("
        "SELECT min(service_name) FROM ai_performance_metrics "
        "UNION ALL SELECT (SELECT min(service_name) FROM ai_performance_metrics "
        "WHERE service_name > names.name) FROM names WHERE names.name IS NOT NULL) "
        "SELECT name FROM names WHERE name IS NOT NULL"
    ).columns(name=String)
    return [str(r[0]) for r in (await session.execute(query)).all()]


async def state_service_names(session: AsyncSession) -> list[str]:
    return list((await session.execute(select(ServiceState.service_name))).scalars())


@dataclass(frozen=True, slots=True)
class Latest:
    value: float
    timestamp: datetime


async def latest_values(
    session: AsyncSession, services: Sequence[str], metric_types: Sequence[str]
) -> dict[tuple[str, str], Latest]:
    """The newest sample of each (service, type) that has one."""
    m = PerformanceMetric
    pairs = [(s, t) for s in services for t in metric_types]
    out: dict[tuple[str, str], Latest] = {}
    for offset in range(0, len(pairs), _PAIRS_PER_STATEMENT):
        arms = []
        for service, metric in pairs[offset : offset + _PAIRS_PER_STATEMENT]:
            newest = (
                select(m.value, m.timestamp)
                .where(m.service_name == service, m.metric_type == metric)
                .order_by(m.timestamp.desc())
                .limit(1)
                .subquery()
            )
            arms.append(
                select(
                    literal(service, String).label("service_name"),
                    literal(metric, String).label("metric_type"),
                    newest.c.value,
                    newest.c.timestamp,
                )
            )
        rows = (await session.execute(union_all(*arms))).all()
        for service, metric, value, ts in rows:
            out[(service, metric)] = Latest(float(value), ts)
    return out


async def open_alert_severities(
    session: AsyncSession, service_name: str | None = None
) -> dict[str, list[str]]:
    a = PerformanceAlert
    query = select(a.service_name, a.severity).where(a.status.in_(OPEN_STATUSES))
    if service_name is not None:
        query = query.where(a.service_name == service_name)
    out: dict[str, list[str]] = {}
    for service, severity in (await session.execute(query)).all():
        out.setdefault(service, []).append(severity)
    return out


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
