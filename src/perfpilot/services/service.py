"""The service view: desired state, latest values, open alerts and recent actions."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from perfpilot.actions import repository as actions_repo
from perfpilot.actions.executor import initial_state
from perfpilot.actions.serialize import action_out, state_out
from perfpilot.alerts.service import alert_out
from perfpilot.autoscaling.service import effective_config
from perfpilot.core.errors import NotFound
from perfpilot.cost.service import cost_by_model
from perfpilot.metrics.units import REGISTRY
from perfpilot.services import repository
from perfpilot.services.paging import decode_name_cursor, next_cursor
from perfpilot.services.schemas import LatestValue, ServiceDetail, ServiceSummary
from perfpilot.services.status import FRESH_SECONDS, service_status, status_from_counts

RECENT_ACTIONS = 20
COST_WINDOW = timedelta(hours=24)  # the service view's cost by model


def latest_values(latest: dict[str, repository.Latest], *, now: datetime) -> dict[str, LatestValue]:
    return {
        metric_type: LatestValue(
            value=sample.value,
            unit=REGISTRY[metric_type].canonical if metric_type in REGISTRY else "",
            timestamp=sample.timestamp,
            fresh=(now - sample.timestamp).total_seconds() <= FRESH_SECONDS,
        )
        for metric_type, sample in latest.items()
    }


def _summary(row: repository.ServiceRow, *, now: datetime) -> ServiceSummary:
    latest = latest_values(row.latest, now=now)
    return ServiceSummary(
        service_name=row.service_name,
        status=status_from_counts(
            open_alerts=row.open_alerts,
            severe_alerts=row.severe_alerts,
            has_fresh_data=any(v.fresh for v in latest.values()),
        ),
        instances=row.instances,
        model=row.model,
        open_alerts=row.open_alerts,
        latest=latest,
    )


def summaries(rows: list[repository.ServiceRow]) -> list[ServiceSummary]:
    """The API shape of a page of services (CPU-bound: callers run it off the event loop)."""
    now = datetime.now(UTC)
    return [_summary(row, now=now) for row in rows]


async def services_page(
    session: AsyncSession, *, limit: int, cursor: str | None
) -> tuple[list[repository.ServiceRow], str | None]:
    """A page of the services with samples or a desired state, by name, and the next cursor."""
    rows = await repository.service_page(
        session, after=decode_name_cursor(cursor), limit=limit + 1, include_alerting=False
    )
    return rows[:limit], next_cursor([r.service_name for r in rows], limit)


async def service_detail(session: AsyncSession, service_name: str) -> ServiceDetail:
    summary = await repository.service_summary(session, service_name)
    now = datetime.now(UTC)
    latest = latest_values(summary.latest, now=now)
    existing = await actions_repo.get_state(session, service_name)
    if existing is None and not latest:
        raise NotFound(f"Service {service_name!r} is not known (no samples, no state)")
    if existing is not None:
        state = existing
    else:  # what the state is until an action changes it; a GET stores nothing
        config = await effective_config(session, service_name)
        state = initial_state(service_name, min_instances=config.min_instances)
    open_alerts = await repository.open_alerts_of(session, service_name)
    actions = await actions_repo.list_actions(
        session, actions_repo.ActionFilter(service_name=service_name), limit=RECENT_ACTIONS
    )
    return ServiceDetail(
        service_name=service_name,
        status=service_status(
            open_severities=[a.severity for a in open_alerts],
            has_fresh_data=any(v.fresh for v in latest.values()),
        ),
        state=state_out(state),
        latest=latest,
        open_alerts=[alert_out(a) for a in open_alerts],
        recent_actions=[action_out(a) for a in actions],
        cost_by_model=await cost_by_model(
            session, service_name, now - COST_WINDOW, now + timedelta(seconds=1)
        ),
    )
