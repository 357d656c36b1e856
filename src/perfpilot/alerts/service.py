"""The alert lifecycle in the database: fire, update, acknowledge, resolve — each change with
its webhook event written to the outbox in the same transaction."""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from perfpilot.alerts import repository
from perfpilot.alerts.notify import emit_alert_event
from perfpilot.alerts.schemas import AlertOut
from perfpilot.core.context import AppContext
from perfpilot.core.db import after_commit
from perfpilot.core.errors import Conflict, NotFound
from perfpilot.engine.selectors import Group
from perfpilot.engine.state_machine import AlertTransition, RuleSpec
from perfpilot.metrics.labels import group_json, group_of
from perfpilot.metrics.units import REGISTRY
from perfpilot.models import PerformanceAlert

OPERATOR_WORDS = {"gt": ">", "lt": "<", "eq": "=", "gte": ">=", "lte": "<="}


def fingerprint(rule_id: str, service_name: str, group: Group = ()) -> str:
    """Stable identity of (rule, service, group): at most one open alert per fingerprint.
    An ungrouped rule's fingerprint is the one it had before labels existed."""
    key = f"{rule_id}\x00{service_name}"
    if group:
        key += f"\x00{group_json(group)}"
    return hashlib.sha256(key.encode()).hexdigest()[:16]


def alert_message(spec: RuleSpec, *, service_name: str, value: float, group: Group = ()) -> str:
    unit = REGISTRY[spec.metric].canonical if spec.metric in REGISTRY else ""
    op = OPERATOR_WORDS.get(spec.operator, spec.operator)
    held = f" for {spec.duration:g}s" if spec.duration else ""
    of = f"{service_name}{_group_words(group)}"
    return (
        f"{spec.name}: {spec.aggregation} {spec.metric} of {of} over "
        f"{spec.window:g}s is {value:g} {unit}, {op} threshold {spec.threshold:g} {unit}{held}"
    )


def _group_words(group: Group) -> str:
    return " (" + ", ".join(f"{name}={value}" for name, value in group) + ")" if group else ""


def alert_out(alert: PerformanceAlert) -> AlertOut:
    return AlertOut(
        id=alert.id,
        rule_id=alert.rule_id,
        service_name=alert.service_name,
        fingerprint=alert.fingerprint,
        metric_type=alert.metric_type,
        current_value=alert.current_value,
        threshold=alert.threshold,
        severity=alert.severity,
        status=alert.status,
        triggered_at=alert.triggered_at,
        last_evaluated_at=alert.last_evaluated_at,
        acknowledged_at=alert.acknowledged_at,
        acknowledged_by=alert.acknowledged_by,
        resolved_at=alert.resolved_at,
        resolved_by=alert.resolved_by,
        resolve_reason=alert.resolve_reason,
        message=alert.message,
        metadata=alert.meta or {},
        labels=alert.labels or {},
        source=str((alert.meta or {}).get("source", "rule")),
        silenced_by=[str(i) for i in (alert.meta or {}).get("silencedBy", [])],
    )


def _ts(seconds: float) -> datetime:
    return datetime.fromtimestamp(seconds, UTC)


async def fire(
    session: AsyncSession,
    spec: RuleSpec,
    transition: AlertTransition,
    *,
    percentile_basis: str | None = None,
) -> PerformanceAlert:
    """Insert the alert row and its `alert.fired` event. `percentile_basis`: what a
    percentile rule's value was computed from ("histogram" or "samples")."""
    value = transition.value if transition.value is not None else float("nan")
    meta: dict[str, Any] = {
        "ruleName": spec.name,
        "aggregation": spec.aggregation,
        "window": spec.window,
        "duration": spec.duration,
        "operator": spec.operator,
        "resolveThreshold": spec.resolve_at,
    }
    if transition.sample_ts is not None:
        meta["sampleTimestamp"] = _ts(transition.sample_ts).isoformat()
    if percentile_basis is not None:
        meta["percentileBasis"] = percentile_basis
    alert = PerformanceAlert(
        id=uuid.uuid4(),
        rule_id=uuid.UUID(spec.rule_id),
        service_name=transition.service_name,
        fingerprint=fingerprint(spec.rule_id, transition.service_name, transition.group),
        metric_type=spec.metric,
        current_value=value,
        threshold=spec.threshold,
        severity=spec.severity,
        status="active",
        triggered_at=_ts(transition.at),
        last_evaluated_at=_ts(transition.at),
        message=alert_message(
            spec, service_name=transition.service_name, value=value, group=transition.group
        ),
        meta=meta,
        labels=dict(transition.group),
    )
    session.add(alert)
    await session.flush()
    await emit_alert_event(session, alert, "alert.fired", event_ts=transition.sample_ts)
    return alert


async def record_value(
    session: AsyncSession, alert_id: uuid.UUID, *, value: float, at: float
) -> bool:
    return await repository.update_open_alert(
        session, alert_id, {"current_value": value, "last_evaluated_at": _ts(at)}
    )


async def mark_no_data(session: AsyncSession, alert_id: uuid.UUID, *, at: float) -> None:
    alert = await repository.get_alert(session, alert_id)
    if alert is not None and alert.status != "resolved":
        alert.meta = {**(alert.meta or {}), "noData": True, "noDataSince": _ts(at).isoformat()}
        await session.flush()


async def clear_no_data(session: AsyncSession, alert_id: uuid.UUID) -> None:
    alert = await repository.get_alert(session, alert_id)
    if alert is not None and (alert.meta or {}).get("noData"):
        alert.meta = {k: v for k, v in alert.meta.items() if k not in ("noData", "noDataSince")}
        await session.flush()


async def close(
    session: AsyncSession,
    alert: PerformanceAlert,
    *,
    reason: str,
    by: str,
    at: datetime,
    comment: str | None = None,
) -> PerformanceAlert:
    """Resolve an open alert and emit `alert.resolved`."""
    alert.status = "resolved"
    alert.resolved_at = at
    alert.resolved_by = by
    alert.resolve_reason = reason
    if comment:
        alert.meta = {**(alert.meta or {}), "resolveComment": comment}
    await session.flush()
    await emit_alert_event(session, alert, "alert.resolved", event_ts=at.timestamp())
    return alert


async def resolve_by_engine(
    session: AsyncSession, alert_id: uuid.UUID, *, reason: str, at: float, value: float | None
) -> PerformanceAlert | None:
    alert = await repository.get_alert(session, alert_id)
    if alert is None or alert.status == "resolved":
        return None  # closed by a person meanwhile: nothing to do
    if value is not None:
        alert.current_value = value
    return await close(session, alert, reason=reason, by="perfpilot", at=_ts(at))


async def get_alert(session: AsyncSession, alert_id: uuid.UUID) -> PerformanceAlert:
    alert = await repository.get_alert(session, alert_id)
    if alert is None:
        raise NotFound(f"Alert {alert_id} not found")
    return alert


def _tell_engine(
    session: AsyncSession, ctx: AppContext, alert: PerformanceAlert, what: str
) -> None:
    data = alert_out(alert).model_dump(mode="json", by_alias=True)
    kind = "alert.resolved" if what == "closed" else "alert.acknowledged"
    after_commit(session, lambda: ctx.events.publish(kind, data))
    control = ctx.engine_control
    if control is None or alert.rule_id is None:
        return
    rule_id, service, group = str(alert.rule_id), alert.service_name, group_of(alert.labels)
    if what == "closed":
        after_commit(session, lambda: control.alert_closed(rule_id, service, group))
    else:
        after_commit(session, lambda: control.alert_acknowledged(rule_id, service, group))


async def resolve_manually(
    session: AsyncSession, ctx: AppContext, alert_id: uuid.UUID, *, by: str, comment: str | None
) -> PerformanceAlert:
    alert = await get_alert(session, alert_id)
    if alert.status == "resolved":
        raise Conflict(f"Alert {alert_id} is already resolved")
    await close(session, alert, reason="manual", by=by, at=datetime.now(UTC), comment=comment)
    _tell_engine(session, ctx, alert, "closed")
    return alert


async def acknowledge(
    session: AsyncSession, ctx: AppContext, alert_id: uuid.UUID, *, by: str, comment: str | None
) -> PerformanceAlert:
    alert = await get_alert(session, alert_id)
    if alert.status == "resolved":
        raise Conflict(f"Alert {alert_id} is resolved; only open alerts can be acknowledged")
    if alert.status == "acknowledged":
        return alert  # idempotent: acknowledging twice changes nothing
    alert.status = "acknowledged"
    alert.acknowledged_at = datetime.now(UTC)
    alert.acknowledged_by = by
    if comment:
        alert.meta = {**(alert.meta or {}), "acknowledgeComment": comment}
    await session.flush()
    await emit_alert_event(session, alert, "alert.acknowledged", event_ts=None)
    _tell_engine(session, ctx, alert, "acknowledged")
    return alert


async def resolve_for_deleted_rule(
    session: AsyncSession, rule_id: uuid.UUID, *, by: str
) -> Sequence[PerformanceAlert]:
    alerts = await repository.open_alerts(session, rule_id=rule_id)
    now = datetime.now(UTC)
    for alert in alerts:
        await close(session, alert, reason="rule_deleted", by=by, at=now)
    return alerts
