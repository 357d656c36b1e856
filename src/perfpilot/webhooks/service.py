"""Webhook subscriptions, and the outbox API the alert and action code writes events through.

`enqueue_event` is the whole contract for producers: call it inside the transaction that makes
the change, and the event is delivered if and only if that transaction commits.

When this process runs a dispatcher for the database, the rows are written already leased to
it (as its claim would: one attempt counted, `next_attempt_at` = the lease's end) and handed
to it once the transaction commits: delivery starts at once, without the claim's own write
transaction (on SQLite, a turn of the one writer) and without a poll. If the process dies
first, the lease lapses and any dispatcher claims the rows, as after a crash mid-delivery.
"""

from __future__ import annotations

import re
import time
import uuid
import weakref
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol, cast
from urllib.parse import urlsplit

from sqlalchemy import Engine, event
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session

from perfpilot.core.errors import InvalidField, NotFound
from perfpilot.core.outbound import OutboundKind, OutboundPolicy, OutboundRefused
from perfpilot.models import Webhook, WebhookDelivery
from perfpilot.webhooks import repository
from perfpilot.webhooks.grouping import add_to_group, is_groupable
from perfpilot.webhooks.payloads import encode_body, webhook_test_payload
from perfpilot.webhooks.repository import ClaimedDelivery
from perfpilot.webhooks.schemas import (
    TEST_EVENT,
    DeliveryOut,
    DeliveryStatus,
    WebhookCreated,
    WebhookIn,
    WebhookOut,
    WebhookUpdate,
)
from perfpilot.webhooks.signing import generate_secret, standard_secret

# Other replicas' subscription changes reach this process's cache within this many seconds;
# this process's own changes invalidate it on commit.
SUBSCRIPTION_CACHE_TTL_SECONDS = 2.0


@dataclass(frozen=True, slots=True)
class Subscription:
    id: uuid.UUID
    events: frozenset[str]
    service_name: str | None
    url: str
    secret: str
    group_by: tuple[str, ...] = ()
    group_wait: float = 0.0
    group_interval: float = 300.0

    def matches(self, event_name: str, service_name: str | None) -> bool:
        if event_name not in self.events:
            return False
        return self.service_name is None or self.service_name == service_name


class _SubscriptionCache:
    """Active subscriptions, so an alert change does not pay a query per event."""

    def __init__(self) -> None:
        self._items: list[Subscription] | None = None
        self._loaded_at = 0.0
        self._generation = 0

    def invalidate(self) -> None:
        self._generation += 1
        self._items = None

    async def get(self, session: AsyncSession) -> list[Subscription]:
        items = self._items
        if (
            items is not None
            and time.monotonic() - self._loaded_at < SUBSCRIPTION_CACHE_TTL_SECONDS
        ):
            return items
        generation = self._generation
        rows = await repository.active_subscriptions(session)
        items = [
            Subscription(id_, frozenset(events), svc, url, secret, tuple(by), wait, interval)
            for id_, events, svc, url, secret, by, wait, interval in rows
        ]
        # an invalidation while we read means what we read may predate it: use it, don't keep it
        if generation == self._generation:
            self._items, self._loaded_at = items, time.monotonic()
        return items


class LocalDispatcher(Protocol):
    """What enqueue_event needs of this process's dispatcher (webhooks/dispatcher.py)."""

    @property
    def lease_seconds(self) -> float: ...

    def take(self, deliveries: Sequence[ClaimedDelivery]) -> None:
        """Deliver these committed rows, already leased to this dispatcher."""


# Per database engine: tests and tools run several apps (and databases) in one process.
_caches: weakref.WeakKeyDictionary[Engine, _SubscriptionCache] = weakref.WeakKeyDictionary()
_dispatchers: weakref.WeakKeyDictionary[Engine, LocalDispatcher] = weakref.WeakKeyDictionary()


def _engine_of(session: AsyncSession) -> Engine:
    bind = session.get_bind()
    return bind if isinstance(bind, Engine) else bind.engine


def _cache_for(session: AsyncSession) -> _SubscriptionCache:
    engine = _engine_of(session)
    cache = _caches.get(engine)
    if cache is None:
        cache = _caches[engine] = _SubscriptionCache()
    return cache


def register_dispatcher(engine: Engine, dispatcher: LocalDispatcher | None) -> None:
    """This process's dispatcher for the database: it gets every delivery enqueued through
    `engine` once its transaction commits (None: enqueued rows wait for a claim)."""
    if dispatcher is None:
        _dispatchers.pop(engine, None)
    else:
        _dispatchers[engine] = dispatcher


def _on_commit(session: AsyncSession, callback: Callable[[], None]) -> None:
    """Run callback after the session's transaction commits, whoever commits it."""

    def fire(_: Session) -> None:
        callback()

    event.listen(session.sync_session, "after_commit", fire, once=True)


def _lease_to_local_dispatcher(
    session: AsyncSession, rows: list[dict[str, Any]], targets: Sequence[Subscription]
) -> None:
    """Write `rows` leased to this process's dispatcher, and hand them over on commit."""
    dispatcher = _dispatchers.get(_engine_of(session))
    if dispatcher is None:
        return  # a dispatcher (here after a restart, or another replica) claims them
    claimed = []
    for row, target in zip(rows, targets, strict=True):
        now = row["created_at"]
        row["attempts"] = 1
        row["last_attempt_at"] = now
        row["next_attempt_at"] = now + timedelta(seconds=dispatcher.lease_seconds)
        claimed.append(
            ClaimedDelivery(
                id=row["id"],
                webhook_id=row["webhook_id"],
                event=row["event"],
                idempotency_key=row["idempotency_key"],
                body=row["body"],
                attempts=1,
                event_at=row["event_at"],
                created_at=now,
                url=target.url,
                secret=target.secret,
            )
        )
    _on_commit(session, lambda: dispatcher.take(claimed))


def _invalidate_subscriptions(session: AsyncSession) -> None:
    cache = _cache_for(session)
    cache.invalidate()
    # again once committed: a concurrent read may have reloaded the old state meanwhile
    _on_commit(session, cache.invalidate)


def delivery_row(
    *, webhook_id: uuid.UUID, event_name: str, body: str, key: str, event_at: datetime
) -> dict[str, Any]:
    now = datetime.now(UTC)
    return {
        "id": uuid.uuid4(),
        "webhook_id": webhook_id,
        "event": event_name,
        "idempotency_key": key,
        "body": body,
        "status": "pending",
        "attempts": 0,
        "next_attempt_at": now,
        "event_at": event_at,
        "created_at": now,
    }


async def enqueue_event(
    session: AsyncSession,
    *,
    event: str,
    payload: dict[str, Any],
    service_name: str | None,
    event_at: datetime,
    idempotency_key: str,
) -> int:
    """Write one delivery per active subscription to `event` (and to `service_name`, unless it
    follows every service) in the caller's transaction; returns how many. Never commits.

    The dispatcher of this database is woken as soon as the transaction commits.
    """
    subscriptions = await _cache_for(session).get(session)
    targets = [s for s in subscriptions if s.matches(event, service_name)]
    if not targets:
        return 0
    grouped = [t for t in targets if t.group_wait > 0 and is_groupable(event, payload)]
    for target in grouped:
        await add_to_group(session, target, event=event, payload=payload)
    targets = [t for t in targets if t not in grouped]
    if not targets:
        return len(grouped)
    body = encode_body(payload)
    rows = [
        delivery_row(
            webhook_id=t.id, event_name=event, body=body, key=idempotency_key, event_at=event_at
        )
        for t in targets
    ]
    _lease_to_local_dispatcher(session, rows, targets)
    await repository.insert_deliveries(session, rows)
    return len(rows) + len(grouped)


async def enqueue_test(session: AsyncSession, webhook_id: uuid.UUID) -> WebhookDelivery:
    """A `webhook.test` delivery to this one subscription, whatever its events."""
    webhook = await get_webhook(session, webhook_id)
    now = datetime.now(UTC)
    row = delivery_row(
        webhook_id=webhook.id,
        event_name=TEST_EVENT,
        body=encode_body(webhook_test_payload(webhook, now=now)),
        key=f"{TEST_EVENT}:{uuid.uuid4()}",
        event_at=now,
    )
    subscription = Subscription(
        webhook.id, frozenset(webhook.events or ()), webhook.service_name, webhook.url,
        webhook.secret,
    )  # fmt: skip
    if webhook.is_active:  # a paused subscription's test waits, as its other deliveries do
        _lease_to_local_dispatcher(session, [row], [subscription])
    await repository.insert_deliveries(session, [row])
    return WebhookDelivery(**row)


# --- subscriptions CRUD ----------------------------------------------------------------------


def parse_id(raw: str) -> uuid.UUID:
    """A malformed id names no webhook: 404, like an unknown one."""
    try:
        return uuid.UUID(raw)
    except ValueError:
        raise NotFound(f"Webhook {raw!r} not found") from None


async def get_webhook(session: AsyncSession, webhook_id: uuid.UUID) -> Webhook:
    webhook = await repository.get_webhook(session, webhook_id)
    if webhook is None:
        raise NotFound(f"Webhook {webhook_id} not found")
    return webhook


async def list_webhooks(session: AsyncSession) -> Sequence[Webhook]:
    return await repository.list_webhooks(session)


async def check_destination(policy: OutboundPolicy, url: str) -> None:
    """422 naming `url` when its host is, or resolves to, an address webhooks may not reach.

    The dispatcher checks again at each connection: DNS answers can change after this."""
    try:
        await policy.check_url(url, OutboundKind.webhook)
    except OutboundRefused as exc:
        detail = {"field": "url", "in": "body", "message": str(exc), "type": "outbound_refused"}
        raise InvalidField(f"Invalid request: url: {exc}", details=[detail]) from None


async def create_webhook(
    session: AsyncSession, body: WebhookIn, *, policy: OutboundPolicy
) -> tuple[Webhook, str]:
    """The new subscription and its secret (generated when none was given)."""
    await check_destination(policy, body.url)
    secret = body.secret or generate_secret()
    now = datetime.now(UTC)
    webhook = Webhook(
        id=uuid.uuid4(),
        url=body.url,
        secret=secret,
        events=list(body.events),
        service_name=body.service_name,
        description=body.description,
        is_active=body.is_active,
        group_by=list(body.group_by),
        group_wait=body.group_wait,
        group_interval=body.group_interval,
        created_at=now,
        updated_at=now,
    )
    await repository.add_webhook(session, webhook)
    _invalidate_subscriptions(session)
    return webhook, secret


async def update_webhook(
    session: AsyncSession, webhook_id: uuid.UUID, body: WebhookUpdate, *, policy: OutboundPolicy
) -> Webhook:
    webhook = await get_webhook(session, webhook_id)
    fields = body.model_fields_set
    if body.url is not None:
        await check_destination(policy, body.url)
        webhook.url = body.url
    if body.secret is not None:
        webhook.secret = body.secret
    if body.events is not None:
        webhook.events = list(body.events)
    if "service_name" in fields:
        webhook.service_name = body.service_name
    if body.description is not None:
        webhook.description = body.description
    if body.is_active is not None:
        webhook.is_active = body.is_active
    if body.group_by is not None:
        webhook.group_by = list(body.group_by)
    if body.group_wait is not None:
        webhook.group_wait = body.group_wait
    if body.group_interval is not None:
        webhook.group_interval = body.group_interval
    webhook.updated_at = datetime.now(UTC)
    await session.flush()
    _invalidate_subscriptions(session)
    return webhook


async def delete_webhook(session: AsyncSession, webhook_id: uuid.UUID) -> Webhook:
    webhook = await get_webhook(session, webhook_id)
    await repository.delete_webhook(session, webhook)
    _invalidate_subscriptions(session)
    return webhook


async def list_deliveries(
    session: AsyncSession,
    webhook_id: uuid.UUID,
    *,
    status: str | None,
    limit: int,
    reveal_response: bool,
) -> list[DeliveryOut]:
    await get_webhook(session, webhook_id)
    rows = await repository.list_deliveries(session, webhook_id, status=status, limit=limit)
    return [delivery_out(d, reveal_response=reveal_response) for d in rows]


def webhook_out(webhook: Webhook, *, reveal_url: bool = True) -> WebhookOut:
    """The subscription; without `reveal_url` only the URL's scheme and host are shown, since
    receivers such as chat tools carry their credential in the path."""
    out = WebhookOut.model_validate(webhook)
    if not reveal_url:
        parts = urlsplit(webhook.url)
        out.url = f"{parts.scheme}://{parts.hostname or ''}/…"
    return out


def webhook_created(webhook: Webhook, secret: str) -> WebhookCreated:
    return WebhookCreated(
        **webhook_out(webhook).model_dump(), secret=secret, standard_secret=standard_secret(secret)
    )


# "HTTP 503: <start of the receiver's body>": the status is ours to show, the body is not
_HTTP_ERROR = re.compile(r"(HTTP \d{3})\b.*", re.DOTALL)


def delivery_out(delivery: WebhookDelivery, *, reveal_response: bool = True) -> DeliveryOut:
    """A delivery; without `reveal_response`, `lastError` keeps a receiver's status code but
    not the start of its response body (which may be anything the URL answers)."""
    pending = delivery.status == "pending"
    last_error = delivery.last_error
    if not reveal_response and last_error is not None:
        last_error = _HTTP_ERROR.sub(r"\1", last_error)
    return DeliveryOut(
        id=delivery.id,
        webhook_id=delivery.webhook_id,
        event=delivery.event,
        idempotency_key=delivery.idempotency_key,
        status=cast(DeliveryStatus, delivery.status),
        attempts=delivery.attempts,
        next_attempt_at=delivery.next_attempt_at if pending else None,
        last_attempt_at=delivery.last_attempt_at,
        last_status_code=delivery.last_status_code,
        last_error=last_error,
        event_at=delivery.event_at,
        created_at=delivery.created_at,
        delivered_at=delivery.delivered_at,
    )
