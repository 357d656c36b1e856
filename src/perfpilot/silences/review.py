"""The engine's periodic look at open alerts against silences: mute alerts a new silence
covers, and resume those whose silences ended (their held-back notification is sent, and
their action is handed back to the engine if it never ran)."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from perfpilot.alerts import repository as alert_repo
from perfpilot.alerts.notify import emit_alert_event
from perfpilot.models import PerformanceAlert
from perfpilot.silences.matching import alert_labels, silencing, unended_silences

SILENCED_BY = "silencedBy"
MUTED_FIRING = "mutedFiring"  # its alert.fired was held back
MUTED_ACTION = "mutedAction"  # its action was held back
WAS_SILENCED = "wasSilenced"  # kept after the silence ends: reports count these apart


def is_silenced(alert: PerformanceAlert) -> bool:
    return bool((alert.meta or {}).get(SILENCED_BY))


async def review_silences(
    session: AsyncSession,
    *,
    now: datetime,
    muted: set[uuid.UUID],
    owns: Callable[[str], bool] = lambda _service: True,
) -> list[PerformanceAlert]:
    """Bring open alerts' silencedBy up to date (updating `muted`, the ids of silenced open
    alerts); returns the alerts whose held-back action should run now. Only the alerts of the
    services `owns` accepts: with replicas, each alert is reviewed by its shard's owner."""
    rules = await unended_silences(session, now)  # recently ended ones included
    if not rules and not muted:
        return []  # no silence for minutes: nothing can be marked or held back
    resume: list[PerformanceAlert] = []
    for alert in await alert_repo.open_alerts(session):
        if not owns(alert.service_name):
            continue
        meta = dict(alert.meta or {})
        ids = silencing(rules, alert_labels(alert), now) if rules else []
        if ids:
            muted.add(alert.id)
            if meta.get(SILENCED_BY) != ids:
                alert.meta = {**meta, SILENCED_BY: ids, WAS_SILENCED: True}
            continue
        muted.discard(alert.id)
        if SILENCED_BY not in meta and MUTED_FIRING not in meta and MUTED_ACTION not in meta:
            continue
        meta.pop(SILENCED_BY, None)
        resend = bool(meta.pop(MUTED_FIRING, False))
        act = bool(meta.pop(MUTED_ACTION, False)) and alert.status == "active"
        alert.meta = meta
        await session.flush()
        if resend:
            await emit_alert_event(session, alert, "alert.fired", event_ts=now.timestamp())
        if act:
            resume.append(alert)
    await session.flush()
    return resume
