"""Alertmanager's notifications in: each firing alert a binding matches opens a Perfpilot
alert (source alertmanager) and runs the binding's action; its resolution closes the alert
(reverting the action when the binding says so). Alertmanager re-sends every notification
(group_interval, repeat_interval, HA peers): a firing alert already open, or already seen
with the same (fingerprint, startsAt), changes nothing, so no action ever runs twice for one
firing. The database's one-open-alert-per-fingerprint index settles concurrent deliveries."""

from __future__ import annotations

import hashlib
import re
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from perfpilot.actions.coordinator import ActionCoordinator
from perfpilot.actions.executor import Proposal
from perfpilot.alertmanager import repository
from perfpilot.alertmanager.bindings import binding_matches
from perfpilot.alertmanager.schemas import AmAlert, AmWebhook, IntakeOut
from perfpilot.alerts import repository as alert_repo
from perfpilot.alerts import service as alerts
from perfpilot.alerts.notify import emit_alert_event
from perfpilot.core.db import after_commit
from perfpilot.metrics.schemas import SERVICE_NAME_PATTERN
from perfpilot.models import AlertmanagerBinding, OptimizationAction, PerformanceAlert
from perfpilot.silences.review import is_silenced

SOURCE = "alertmanager"
_SERVICE = re.compile(SERVICE_NAME_PATTERN)
_SEVERITIES = {
    "critical": "critical",
    "page": "critical",
    "high": "high",
    "error": "high",
    "warning": "medium",
    "medium": "medium",
    "low": "low",
    "info": "low",
    "none": "low",
}


def am_fingerprint(fingerprint: str) -> str:
    """The Perfpilot fingerprint of an Alertmanager alert (fits the column, never a rule's)."""
    return "am:" + hashlib.sha256(fingerprint.encode()).hexdigest()[:32]


@dataclass
class _Tally:
    opened: int = 0
    duplicates: int = 0
    resolved: int = 0
    unbound: int = 0
    actions: list[OptimizationAction] = field(default_factory=list)


def _float(text: str | None) -> float:
    try:
        value = float(text or "")
    except ValueError:
        return 0.0
    return value if value == value and abs(value) < 1e15 else 0.0


async def receive(
    session: AsyncSession, payload: AmWebhook, *, coordinator: ActionCoordinator | None
) -> IntakeOut:
    """Apply one notification in the caller's transaction."""
    tally = _Tally()
    bindings = await repository.list_bindings(session, active_only=True)
    now = datetime.now(UTC)
    for item in payload.alerts:
        if item.status == "firing":
            await _firing(session, item, bindings, now=now, tally=tally, coordinator=coordinator)
        else:
            await _resolved(session, item, now=now, tally=tally, coordinator=coordinator)
    if coordinator is not None:
        done = list(tally.actions)

        def measure_later() -> None:  # once committed, the engine measures their impact
            for action in done:
                coordinator.track(action)

        after_commit(session, measure_later)
    return IntakeOut(
        received=len(payload.alerts),
        opened=tally.opened,
        duplicates=tally.duplicates,
        resolved=tally.resolved,
        unbound=tally.unbound,
        actions=[a.id for a in tally.actions],
    )


async def _firing(
    session: AsyncSession,
    item: AmAlert,
    bindings: Sequence[AlertmanagerBinding],
    *,
    now: datetime,
    tally: _Tally,
    coordinator: ActionCoordinator | None,
) -> None:
    fingerprint = am_fingerprint(item.fingerprint)
    existing = await alert_repo.open_alert_by_fingerprint(session, fingerprint)
    if existing is not None:
        existing.last_evaluated_at = now
        tally.duplicates += 1
        return
    if await repository.seen_alert(session, fingerprint, item.starts_at):
        tally.duplicates += 1  # a re-send after it was resolved here
        return
    binding = next((b for b in bindings if binding_matches(b, item.labels)), None)
    service = None
    if binding is not None:
        service = binding.service_name or item.labels.get(binding.service_label)
    if binding is None or service is None or not _SERVICE.match(service):
        tally.unbound += 1
        return
    alert = _alert_row(item, binding, service=service, fingerprint=fingerprint, now=now)
    try:
        async with session.begin_nested():
            session.add(alert)
            await session.flush()
    except IntegrityError:  # a concurrent delivery of the same alert opened it first
        tally.duplicates += 1
        return
    tally.opened += 1
    await emit_alert_event(session, alert, "alert.fired", event_ts=None)
    if is_silenced(alert) or coordinator is None:
        return  # a silence holds the action back
    tally.actions.append(await _act(session, binding, alert, now=now, coordinator=coordinator))


def _alert_row(
    item: AmAlert, binding: AlertmanagerBinding, *, service: str, fingerprint: str, now: datetime
) -> PerformanceAlert:
    labels = item.labels
    alertname = labels.get("alertname", "alertmanager")
    severity = _SEVERITIES.get(labels.get("severity", "").lower())
    summary = item.annotations.get("summary") or item.annotations.get("description") or ""
    return PerformanceAlert(
        id=uuid.uuid4(),
        rule_id=None,
        service_name=service,
        fingerprint=fingerprint,
        metric_type=binding.metric or "external",
        current_value=_float(item.annotations.get("value")),
        threshold=_float(item.annotations.get("threshold")),
        severity=severity or str(binding.action.get("priority", "medium")),
        status="active",
        triggered_at=item.starts_at,
        last_evaluated_at=now,
        message=f"{alertname} from Alertmanager on {service}" + (f": {summary}" if summary else ""),
        meta={
            "source": SOURCE,
            "ruleName": alertname,
            "bindingId": str(binding.id),
            "alertmanagerFingerprint": item.fingerprint,
            "generatorURL": item.generator_url,
            "annotations": dict(item.annotations),
        },
        labels=dict(labels),
    )


async def _act(
    session: AsyncSession,
    binding: AlertmanagerBinding,
    alert: PerformanceAlert,
    *,
    now: datetime,
    coordinator: ActionCoordinator,
) -> OptimizationAction:
    action = binding.action
    service = alert.service_name
    cooldown = float(action.get("cooldown", 300))
    proposal = Proposal(
        service_name=service,
        action_type=str(action["type"]),
        parameters=dict(action.get("parameters") or {}),
        source=SOURCE,
        at=now.timestamp(),
        alert_id=alert.id,
        metric_type=binding.metric,
        aggregation=binding.aggregation if binding.metric else None,
        window=binding.window,
        cooldown=cooldown,
        revert_on_resolve=bool(action.get("revertOnResolve", False)),
        note=f"binding {binding.name}",
    )
    executor = coordinator.executor
    last = (binding.last_executed or {}).get(service)
    if last is not None:
        left = datetime.fromisoformat(last).timestamp() + cooldown - now.timestamp()
        if left > 0:
            return await executor.record_skip(session, proposal, f"cooldown: {left:.0f}s left")
    [done] = await executor.execute(session, [proposal])
    if done.status == "executed":
        binding.last_executed = {**(binding.last_executed or {}), service: now.isoformat()}
    return done


async def _resolved(
    session: AsyncSession,
    item: AmAlert,
    *,
    now: datetime,
    tally: _Tally,
    coordinator: ActionCoordinator | None,
) -> None:
    alert = await alert_repo.open_alert_by_fingerprint(session, am_fingerprint(item.fingerprint))
    if alert is None:
        return  # never opened (unbound), or already resolved: nothing to do
    ends_at = item.ends_at if item.ends_at is not None and item.ends_at.year > 1 else now
    await alerts.close(session, alert, reason="alertmanager_resolved", by=SOURCE, at=ends_at)
    tally.resolved += 1
    if coordinator is not None:
        reverted = await coordinator.executor.revert_for_alert(
            session, alert.id, at=now.timestamp()
        )
        tally.actions.extend(reverted)


def is_received(alert: PerformanceAlert) -> bool:
    return (alert.meta or {}).get("source") == SOURCE


async def resume_bound_action(
    session: AsyncSession, alert_id: uuid.UUID, *, coordinator: ActionCoordinator
) -> OptimizationAction | None:
    """Run the action a silence held back for a received alert that is still active (the
    engine calls this when the silence ends); None when there is nothing to run."""
    alert = await alert_repo.get_alert(session, alert_id)
    if alert is None or alert.status != "active" or not is_received(alert):
        return None
    raw = (alert.meta or {}).get("bindingId")
    binding = await repository.get_binding(session, uuid.UUID(str(raw))) if raw else None
    if binding is None or not binding.is_active:
        return None
    return await _act(session, binding, alert, now=datetime.now(UTC), coordinator=coordinator)
