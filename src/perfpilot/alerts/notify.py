"""Alert changes as webhook events, written to the outbox in the caller's transaction."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy.ext.asyncio import AsyncSession

from perfpilot.models import PerformanceAlert
from perfpilot.webhooks.payloads import alert_event_payload
from perfpilot.webhooks.service import enqueue_event


async def emit_alert_event(
    session: AsyncSession, alert: PerformanceAlert, event: str, *, event_ts: float | None
) -> int:
    """Queue `event` for every matching subscription; the idempotency key is per alert+event."""
    rule_name = str((alert.meta or {}).get("ruleName", ""))
    payload = alert_event_payload(event=event, alert=alert, rule_name=rule_name)
    event_at = datetime.fromtimestamp(event_ts, UTC) if event_ts is not None else datetime.now(UTC)
    return await enqueue_event(
        session,
        event=event,
        payload=payload,
        service_name=alert.service_name,
        event_at=event_at,
        idempotency_key=f"{alert.id}:{event}",
    )
