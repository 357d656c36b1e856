"""GET /realtime: the latest value of each metric type and a status, per service."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from perfpilot.core.errors import NotFound
from perfpilot.metrics.units import METRIC_TYPES
from perfpilot.monitoring import live_repository as repo
from perfpilot.monitoring.live_schemas import RealtimeMetrics, RealtimeOut
from perfpilot.services.status import service_status


def _view(
    service_name: str,
    latest: dict[tuple[str, str], repo.Latest],
    severities: list[str],
    *,
    now: datetime,
    fresh_seconds: float,
) -> RealtimeOut:
    horizon = now - timedelta(seconds=fresh_seconds)
    values: dict[str, float | None] = {}
    newest: datetime | None = None
    for metric in METRIC_TYPES:
        sample = latest.get((service_name, metric))
        if sample is None:
            values[metric] = None
            continue
        newest = sample.timestamp if newest is None else max(newest, sample.timestamp)
        values[metric] = sample.value if sample.timestamp >= horizon else None
    fresh = any(v is not None for v in values.values())
    return RealtimeOut(
        timestamp=now,
        service_name=service_name,
        metrics=RealtimeMetrics(**values),
        status=service_status(open_severities=severities, has_fresh_data=fresh),
        last_sample_at=newest,
        open_alerts=len(severities),
    )


async def service_view(
    session: AsyncSession, service_name: str, *, now: datetime, fresh_seconds: float
) -> RealtimeOut:
    """One service; 404 when it has never reported, has no state and no open alert."""
    latest = await repo.latest_values(session, [service_name], METRIC_TYPES)
    severities = (await repo.open_alert_severities(session, service_name)).get(service_name, [])
    known = bool(latest or severities) or service_name in await repo.state_service_names(session)
    if not known:
        raise NotFound(f"Service {service_name!r} is not known (no samples, no state)")
    return _view(service_name, latest, severities, now=now, fresh_seconds=fresh_seconds)


async def all_views(
    session: AsyncSession, *, now: datetime, fresh_seconds: float
) -> list[RealtimeOut]:
    """Every service with samples, a desired state or an open alert, by name."""
    open_by_service = await repo.open_alert_severities(session)
    names = sorted(
        set(await repo.metric_service_names(session))
        | set(await repo.state_service_names(session))
        | set(open_by_service)
    )
    latest = await repo.latest_values(session, names, METRIC_TYPES)
    return [
        _view(
            name,
            latest,
            open_by_service.get(name, []),
            now=now,
            fresh_seconds=fresh_seconds,
        )
        for name in names
    ]
