"""GET /realtime: the latest value of each metric type and a status, per service."""

from __future__ import annotations

from datetime import datetime, timedelta

from pydantic.alias_generators import to_camel
from sqlalchemy.ext.asyncio import AsyncSession

from perfpilot.core.errors import NotFound
from perfpilot.metrics import repository as metrics_repo
from perfpilot.metrics.units import REGISTRY
from perfpilot.monitoring.live_schemas import RealtimeGroup, RealtimeMetrics, RealtimeOut
from perfpilot.services import repository
from perfpilot.services.paging import decode_name_cursor, next_cursor
from perfpilot.services.status import status_from_counts


def _view(row: repository.ServiceRow, *, now: datetime, fresh_seconds: float) -> RealtimeOut:
    horizon = now - timedelta(seconds=fresh_seconds)
    values: dict[str, float | None] = {}
    for metric in REGISTRY.names():
        sample = row.latest.get(metric)
        values[to_camel(metric)] = sample.value if sample and sample.timestamp >= horizon else None
    newest = max((s.timestamp for s in row.latest.values()), default=None)
    return RealtimeOut(
        timestamp=now,
        service_name=row.service_name,
        metrics=RealtimeMetrics.model_validate(values),
        status=status_from_counts(
            open_alerts=row.open_alerts,
            severe_alerts=row.severe_alerts,
            has_fresh_data=any(v is not None for v in values.values()),
        ),
        last_sample_at=newest,
        open_alerts=row.open_alerts,
    )


async def service_view(
    session: AsyncSession, service_name: str, *, now: datetime, fresh_seconds: float
) -> RealtimeOut:
    """One service; 404 when it has never reported, has no state and no open alert."""
    row = await repository.service_summary(session, service_name)
    if not (row.latest or row.open_alerts or row.has_state):
        raise NotFound(f"Service {service_name!r} is not known (no samples, no state)")
    return _view(row, now=now, fresh_seconds=fresh_seconds)


async def group_views(
    session: AsyncSession, service_name: str, label: str, *, now: datetime, fresh_seconds: float
) -> list[RealtimeGroup]:
    """The service's latest values per value of `label`, by value."""
    horizon = now - timedelta(seconds=fresh_seconds)
    newest: dict[str, dict[str, tuple[datetime, float]]] = {}
    for row in await metrics_repo.latest_by_label(session, service_name, label):
        if row.timestamp is None or row.value is None:
            continue
        latest = newest.setdefault(row.label_value, {})
        known = latest.get(row.metric_type)
        if known is None or row.timestamp > known[0]:
            latest[row.metric_type] = (row.timestamp, row.value)
    return [
        RealtimeGroup(
            labels={label: value},
            metrics=RealtimeMetrics.model_validate(
                {
                    to_camel(metric): sample[1]
                    for metric, sample in latest.items()
                    if metric in REGISTRY and sample[0] >= horizon
                }
            ),
            last_sample_at=max(sample[0] for sample in latest.values()),
        )
        for value, latest in sorted(newest.items())
    ]


def views(
    rows: list[repository.ServiceRow], *, now: datetime, fresh_seconds: float
) -> list[RealtimeOut]:
    """The API shape of a page (CPU-bound: callers run it off the event loop)."""
    return [_view(row, now=now, fresh_seconds=fresh_seconds) for row in rows]


async def views_page(
    session: AsyncSession, *, limit: int, cursor: str | None
) -> tuple[list[repository.ServiceRow], str | None]:
    """A page of the services with samples, a desired state or an open alert, by name, and
    the cursor of the next page."""
    rows = await repository.service_page(
        session, after=decode_name_cursor(cursor), limit=limit + 1, include_alerting=True
    )
    return rows[:limit], next_cursor([r.service_name for r in rows], limit)
