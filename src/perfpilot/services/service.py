"""The service view: desired state, latest values, open alerts and recent actions."""

from __future__ import annotations

import time
from datetime import UTC, datetime

from sqlalchemy.ext.asyncio import AsyncSession

from perfpilot.actions import repository as actions_repo
from perfpilot.actions.executor import initial_state
from perfpilot.actions.serialize import action_out, state_out
from perfpilot.alerts import repository as alerts_repo
from perfpilot.alerts.service import alert_out
from perfpilot.autoscaling.service import effective_config
from perfpilot.core.context import AppContext
from perfpilot.core.errors import NotFound
from perfpilot.metrics.units import METRIC_SPECS
from perfpilot.services.schemas import LatestValue, ServiceDetail, ServiceSummary
from perfpilot.services.status import FRESH_SECONDS, service_status

RECENT_ACTIONS = 20


def latest_values(ctx: AppContext, service_name: str) -> dict[str, LatestValue]:
    now = time.time()
    out = {}
    for (service, metric_type), (value, ts) in list(ctx.telemetry.latest.values.items()):
        if service != service_name:
            continue
        out[metric_type] = LatestValue(
            value=value,
            unit=METRIC_SPECS[metric_type].canonical,
            timestamp=datetime.fromtimestamp(ts, UTC),
            fresh=now - ts <= FRESH_SECONDS,
        )
    return out


async def list_services(session: AsyncSession, ctx: AppContext) -> list[ServiceSummary]:
    states = {s.service_name: s for s in await actions_repo.list_states(session)}
    open_by_service: dict[str, list[str]] = {}
    for alert in await alerts_repo.open_alerts(session):
        open_by_service.setdefault(alert.service_name, []).append(alert.severity)
    names = set(states) | {service for service, _ in ctx.telemetry.latest.values}
    out = []
    for name in sorted(names):
        latest = latest_values(ctx, name)
        state = states.get(name)
        out.append(
            ServiceSummary(
                service_name=name,
                status=service_status(
                    open_severities=open_by_service.get(name, []),
                    has_fresh_data=any(v.fresh for v in latest.values()),
                ),
                instances=state.instances if state else None,
                model=state.model if state else None,
                open_alerts=len(open_by_service.get(name, [])),
                latest=latest,
            )
        )
    return out


async def service_detail(
    session: AsyncSession, ctx: AppContext, service_name: str
) -> ServiceDetail:
    latest = latest_values(ctx, service_name)
    existing = await actions_repo.get_state(session, service_name)
    if existing is None and not latest:
        raise NotFound(f"Service {service_name!r} is not known (no samples, no state)")
    if existing is not None:
        state = existing
    else:  # what the state is until an action changes it; a GET stores nothing
        config = await effective_config(session, service_name)
        state = initial_state(service_name, min_instances=config.min_instances)
    open_alerts = [
        a for a in await alerts_repo.open_alerts(session) if a.service_name == service_name
    ]
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
    )
