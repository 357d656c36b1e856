"""SQL for webhook subscriptions and the delivery outbox."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Table, delete, func, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from perfpilot.models import Webhook, WebhookDelivery, WebhookGroup

_deliveries = cast(Table, WebhookDelivery.__table__)
_webhooks = cast(Table, Webhook.__table__)
_d = _deliveries.c
_w = _webhooks.c


@dataclass(frozen=True, slots=True)
class ClaimedDelivery:
    """A delivery leased to this dispatcher, with where to send it and how to sign it."""

    id: uuid.UUID
    webhook_id: uuid.UUID
    event: str
    idempotency_key: str
    body: str
    attempts: int
    event_at: datetime
    created_at: datetime
    url: str
    secret: str


@dataclass(frozen=True, slots=True)
class OutboxStats:
    backlog: int
    oldest_due_at: datetime | None
    oldest_failing_since: datetime | None
    last_dead_at: datetime | None


# --- subscriptions ---------------------------------------------------------------------------


async def get_webhook(session: AsyncSession, webhook_id: uuid.UUID) -> Webhook | None:
    return await session.get(Webhook, webhook_id)


async def list_webhooks(session: AsyncSession) -> Sequence[Webhook]:
    result = await session.execute(select(Webhook).order_by(Webhook.created_at, Webhook.id))
    return result.scalars().all()


async def add_webhook(session: AsyncSession, webhook: Webhook) -> None:
    session.add(webhook)
    await session.flush()


async def delete_webhook(session: AsyncSession, webhook: Webhook) -> None:
    """Its deliveries go with it (ON DELETE CASCADE)."""
    await session.delete(webhook)
    await session.flush()


async def active_subscriptions(
    session: AsyncSession,
) -> list[tuple[uuid.UUID, list[str], str | None, str, str, list[str], float, float]]:
    """(id, events, service_name, url, secret, group_by, group_wait, group_interval) of
    every active subscription."""
    query = select(
        _w.id,
        _w.events,
        _w.service_name,
        _w.url,
        _w.secret,
        _w.group_by,
        _w.group_wait,
        _w.group_interval,
    ).where(_w.is_active.is_(True))
    return [
        (
            r.id,
            list(r.events or ()),
            r.service_name,
            r.url,
            r.secret,
            list(r.group_by or ()),
            float(r.group_wait),
            float(r.group_interval),
        )
        for r in await session.execute(query)
    ]


# --- deliveries ------------------------------------------------------------------------------


async def insert_deliveries(session: AsyncSession, rows: Sequence[dict[str, Any]]) -> None:
    """One executemany in the caller's transaction."""
    await session.execute(_deliveries.insert(), list(rows))


async def list_deliveries(
    session: AsyncSession, webhook_id: uuid.UUID, *, status: str | None, limit: int
) -> Sequence[WebhookDelivery]:
    """Newest first."""
    query = select(WebhookDelivery).where(WebhookDelivery.webhook_id == webhook_id)
    if status is not None:
        query = query.where(WebhookDelivery.status == status)
    query = query.order_by(WebhookDelivery.created_at.desc(), WebhookDelivery.id.desc())
    return (await session.execute(query.limit(limit))).scalars().all()


async def claim_due(
    session: AsyncSession, *, now: datetime, lease_until: datetime, limit: int
) -> list[ClaimedDelivery]:
    """Lease up to `limit` due deliveries of active subscriptions and count the attempt.

    The lease is `next_attempt_at = lease_until`: if this process dies before recording the
    outcome, the row falls due again when the lease ends and another dispatcher resends it.
    On PostgreSQL, FOR UPDATE SKIP LOCKED lets concurrent dispatchers claim disjoint rows
    without waiting; SQLite serialises writers, and the re-checked WHERE keeps it exact.
    """
    due = (
        select(_d.id)
        .join(_webhooks, _w.id == _d.webhook_id)
        .where(_d.status == "pending", _d.next_attempt_at <= now, _w.is_active.is_(True))
        .order_by(_d.next_attempt_at)
        .limit(limit)
        .with_for_update(skip_locked=True, of=_deliveries)
    )
    claim = (
        update(_deliveries)
        .where(_d.id.in_(due.scalar_subquery()), _d.status == "pending", _d.next_attempt_at <= now)
        .values(attempts=_d.attempts + 1, next_attempt_at=lease_until, last_attempt_at=now)
        .returning(
            _d.id,
            _d.webhook_id,
            _d.event,
            _d.idempotency_key,
            _d.body,
            _d.attempts,
            _d.event_at,
            _d.created_at,
        )
    )
    rows = (await session.execute(claim)).all()
    if not rows:
        return []
    targets = {
        r.id: (r.url, r.secret)
        for r in await session.execute(
            select(_w.id, _w.url, _w.secret).where(_w.id.in_({row.webhook_id for row in rows}))
        )
    }
    claimed = []
    for row in rows:
        url, secret = targets[row.webhook_id]
        claimed.append(
            ClaimedDelivery(
                id=row.id,
                webhook_id=row.webhook_id,
                event=row.event,
                idempotency_key=row.idempotency_key,
                body=row.body,
                attempts=row.attempts,
                event_at=row.event_at,
                created_at=row.created_at,
                url=url,
                secret=secret,
            )
        )
    return claimed


async def any_due(session: AsyncSession, *, now: datetime) -> bool:
    """Whether some delivery of an active subscription is due for an attempt."""
    query = (
        select(_d.id)
        .join(_webhooks, _w.id == _d.webhook_id)
        .where(_d.status == "pending", _d.next_attempt_at <= now, _w.is_active.is_(True))
        .limit(1)
    )
    return (await session.execute(query)).first() is not None


async def release_leases(
    session: AsyncSession, delivery_ids: Sequence[uuid.UUID], *, now: datetime
) -> None:
    """Give back leased deliveries that were never attempted: due now, the attempt uncounted."""
    await session.execute(
        update(_deliveries)
        .where(_d.id.in_(delivery_ids), _d.status == "pending")
        .values(attempts=_d.attempts - 1, next_attempt_at=now)
    )


async def mark_delivered(
    session: AsyncSession, delivery_id: uuid.UUID, *, now: datetime, status_code: int
) -> None:
    await session.execute(
        update(_deliveries)
        .where(_d.id == delivery_id, _d.status == "pending")
        .values(status="delivered", delivered_at=now, last_status_code=status_code, last_error=None)
    )


async def mark_failed(
    session: AsyncSession,
    delivery_id: uuid.UUID,
    *,
    retry_at: datetime | None,
    status_code: int | None,
    error: str,
) -> None:
    """Schedule the next attempt, or (retry_at None) give the delivery up as dead."""
    values: dict[str, Any] = {"last_status_code": status_code, "last_error": error}
    if retry_at is None:
        values["status"] = "dead"
    else:
        values["next_attempt_at"] = retry_at
    await session.execute(
        update(_deliveries).where(_d.id == delivery_id, _d.status == "pending").values(**values)
    )


async def outbox_stats(session: AsyncSession, *, now: datetime) -> OutboxStats:
    """What /health and the backlog gauge judge: deliveries of paused subscriptions are held,
    not late, so pending counts only active subscriptions."""
    active_ids = select(_w.id).where(_w.is_active.is_(True)).scalar_subquery()
    pending = (_d.status == "pending", _d.webhook_id.in_(active_ids))
    summary = select(func.count(), func.min(_d.next_attempt_at)).where(*pending)
    backlog, oldest_due = (await session.execute(summary)).one()
    failing_since = (
        await session.execute(
            select(func.min(_d.created_at)).where(*pending, _d.last_error.is_not(None))
        )
    ).scalar_one()
    last_dead = (
        await session.execute(select(func.max(_d.last_attempt_at)).where(_d.status == "dead"))
    ).scalar_one()
    return OutboxStats(
        backlog=int(backlog),
        oldest_due_at=oldest_due if oldest_due is not None and oldest_due <= now else None,
        oldest_failing_since=failing_since,
        last_dead_at=last_dead,
    )


async def delete_finished_deliveries(
    connection: AsyncConnection, cutoff: datetime, *, chunk: int
) -> int:
    """Delete at most `chunk` delivered or dead deliveries created before `cutoff`."""
    oldest = (
        select(WebhookDelivery.id)
        .where(
            WebhookDelivery.status.in_(("delivered", "dead")),
            WebhookDelivery.created_at < cutoff,
        )
        .limit(chunk)
        .scalar_subquery()
    )
    result = await connection.execute(delete(WebhookDelivery).where(WebhookDelivery.id.in_(oldest)))
    return int(result.rowcount or 0)


# --- alert groups (webhooks/grouping.py) -----------------------------------------------------


async def locked_group(
    session: AsyncSession, webhook_id: uuid.UUID, key: str, labels: dict[str, str]
) -> WebhookGroup:
    """The subscription's group `key`, created empty if new, locked for this transaction."""
    insert = pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
    await session.execute(
        insert(WebhookGroup)
        .values(webhook_id=webhook_id, group_key=key, group_labels=labels, items=[])
        .on_conflict_do_nothing(index_elements=["webhook_id", "group_key"])
    )
    group = await session.get(
        WebhookGroup, (webhook_id, key), with_for_update=True, populate_existing=True
    )
    assert group is not None  # inserted above, or already there; groups are never deleted
    return group


async def any_group_due(session: AsyncSession, *, now: datetime) -> bool:
    query = select(WebhookGroup.webhook_id).where(WebhookGroup.flush_at <= now).limit(1)
    return (await session.execute(query)).first() is not None


async def claim_due_groups(
    session: AsyncSession, *, now: datetime, limit: int
) -> Sequence[WebhookGroup]:
    """Due groups, locked (SKIP LOCKED: replicas flush disjoint groups)."""
    query = (
        select(WebhookGroup)
        .where(WebhookGroup.flush_at <= now)
        .order_by(WebhookGroup.flush_at)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    return (await session.execute(query)).scalars().all()
