"""Rows the HTTP API cannot create on demand (alerts at chosen times, measured actions,
desired states), written through the app's own sessions into the real database."""

from __future__ import annotations

import hashlib
import uuid
from datetime import datetime, timedelta
from typing import Any

from perfpilot.models import OptimizationAction, PerformanceAlert, ServiceState
from tests.conftest import LiveServer


async def add_rows(s: LiveServer, *rows: Any) -> None:
    async with s.ctx.sessionmaker() as session, session.begin():
        session.add_all(rows)


def alert(
    service: str,
    *,
    at: datetime,
    severity: str,
    rule_id: str | None = None,
    resolved_after: float | None = None,
    status: str | None = None,
) -> PerformanceAlert:
    resolved = resolved_after is not None
    return PerformanceAlert(
        id=uuid.uuid4(),
        rule_id=uuid.UUID(rule_id) if rule_id else None,
        service_name=service,
        # unique per row: open alerts must not share a fingerprint
        fingerprint=hashlib.sha256(uuid.uuid4().bytes).hexdigest()[:16],
        metric_type="latency",
        current_value=1.0,
        threshold=1.0,
        severity=severity,
        status=status or ("resolved" if resolved else "active"),
        triggered_at=at,
        resolved_at=at + timedelta(seconds=resolved_after) if resolved_after is not None else None,
        message="seeded",
        meta={},
    )


def action(
    service: str,
    action_type: str,
    *,
    at: datetime,
    status: str = "executed",
    metric: str | None = "latency",
    outcome: str | None = None,
    impact: float | None = None,
) -> OptimizationAction:
    return OptimizationAction(
        id=uuid.uuid4(),
        service_name=service,
        action_type=action_type,
        parameters={},
        source="manual",
        status=status,
        metric_type=metric,
        outcome=outcome,
        measured_impact=impact,
        executed_at=at,
    )


def state(service: str, *, instances: int) -> ServiceState:
    return ServiceState(service_name=service, instances=instances)
