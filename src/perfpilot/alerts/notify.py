"""Alert changes as webhook events, written to the outbox in the caller's transaction.

A silenced alert (silences/) sends nothing: its `alert.fired` is held back (and sent when the
silence ends while it is still open), and receivers that never heard of it are not told of
its acknowledgement or resolution."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy.ext.asyncio import AsyncSession

from perfpilot.models import PerformanceAlert
from perfpilot.silences.matching import silenced_by
from perfpilot.webhooks.payloads import alert_event_payload
from perfpilot.webhooks.service import enqueue_event

FIRED = "alert.fired"


async def emit_alert_event(
    session: AsyncSession, alert: PerformanceAlert, event: str, *, event_ts: float | None
) -> int:
    """Queue `event` for every matching subscription; the idempotency key is per alert+event.
    Returns how many deliveries were queued (0 when silenced)."""
    meta = dict(alert.meta or {})
    silences = await silenced_by(session, alert, datetime.now(UTC))
    if silences:
        meta["silencedBy"] = silences
        meta["wasSilenced"] = True  # for good: reports count silenced alerts apart
        if event == FIRED:
            meta["mutedFiring"] = meta["mutedAction"] = True
        alert.meta = meta
        await session.flush()
        return 0
    if meta.get("mutedFiring") and event != FIRED:
        return 0  # its firing was never sent: nothing to acknowledge or resolve
    rule_name = str(meta.get("ruleName", ""))
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
