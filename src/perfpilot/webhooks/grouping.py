"""Grouping of alert notifications on a subscription (Alertmanager's group_by, group_wait,
group_interval): alert events whose labels agree on the subscription's groupBy collect in
one ai_webhook_groups row, written in the transaction of the change (durable, as the outbox
is), and go out as one delivery listing them all (webhooks/group_flusher.py): group_wait
after the group's first event, then at most every group_interval."""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Mapping, Sequence
from datetime import timedelta
from typing import Any, Protocol

import orjson
from sqlalchemy.ext.asyncio import AsyncSession

from perfpilot.core.db import utcnow
from perfpilot.webhooks import repository
from perfpilot.webhooks.payloads import DEFAULT_GROUP_BY


class GroupedTarget(Protocol):
    @property
    def id(self) -> uuid.UUID: ...

    @property
    def group_by(self) -> tuple[str, ...]: ...

    @property
    def group_wait(self) -> float: ...

    @property
    def group_interval(self) -> float: ...


def is_groupable(event: str, payload: Mapping[str, Any]) -> bool:
    """Alert events carrying one Alertmanager alert (the others go out one by one)."""
    alerts = payload.get("alerts")
    return event.startswith("alert.") and isinstance(alerts, list) and len(alerts) == 1


def group_of(labels: Mapping[str, str], group_by: Sequence[str]) -> tuple[str, dict[str, str]]:
    """(key, group labels) of an alert's labels under `group_by` ([]: alertname, service)."""
    names = group_by or DEFAULT_GROUP_BY
    group = {name: labels[name] for name in sorted(names) if name in labels}
    key = hashlib.sha256(orjson.dumps(group, option=orjson.OPT_SORT_KEYS)).hexdigest()[:32]
    return key, group


async def add_to_group(
    session: AsyncSession, target: GroupedTarget, *, event: str, payload: Mapping[str, Any]
) -> None:
    """Add one alert event to its group, in the caller's transaction."""
    [alert] = payload["alerts"]
    key, group_labels = group_of(alert.get("labels", {}), target.group_by)
    row = await repository.locked_group(session, target.id, key, group_labels)
    now = utcnow()
    item = {"event": event, "alert": alert, "perfpilot": payload.get("perfpilot", {})}
    row.items = [*(row.items or []), item]
    if row.flush_at is None:
        if row.last_flushed_at is None:
            row.flush_at = now + timedelta(seconds=target.group_wait)
        else:
            row.flush_at = max(now, row.last_flushed_at + timedelta(seconds=target.group_interval))
    await session.flush()
