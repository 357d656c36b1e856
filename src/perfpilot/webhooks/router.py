"""/webhooks: subscriptions (admin to write, viewer to read), their deliveries, a test send."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, status

from perfpilot.core.auth import Role
from perfpilot.core.deps import AdminAuth, ContextDep, SessionDep, ViewerAuth
from perfpilot.core.schemas import Envelope, ListEnvelope
from perfpilot.webhooks import service
from perfpilot.webhooks.schemas import (
    DeliveryOut,
    DeliveryStatus,
    WebhookCreated,
    WebhookIn,
    WebhookOut,
    WebhookUpdate,
)

router = APIRouter(prefix="/webhooks", tags=["webhooks"])

_DESTINATIONS = (
    "The URL's host is resolved and every address checked, here (422 naming `url`) and again at "
    "each delivery: link-local and cloud metadata addresses are refused, loopback and private "
    "ranges too unless PERFPILOT_OUTBOUND_ALLOW (CIDRs) names them."
)
_SIGNING = (
    "Each request carries `X-Perfpilot-Timestamp` (unix seconds) and `X-Perfpilot-Signature: "
    'v1=<hex HMAC-SHA256(secret, "<timestamp>.<body>")>`; reject stale timestamps (> 5 min). '
    "`Idempotency-Key` is the same on every retry of an event: deduplicate on it."
)


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=Envelope[WebhookCreated],
    summary="Subscribe a URL to events",
    description="Events: alert.fired, alert.acknowledged, alert.resolved, action.executed, "
    "state.changed. Without `secret` one is generated. The secret is returned in this response "
    "only. " + _DESTINATIONS + " " + _SIGNING,
)
async def create_webhook(
    body: WebhookIn, session: SessionDep, ctx: ContextDep, _: AdminAuth
) -> Envelope[WebhookCreated]:
    webhook, secret = await service.create_webhook(session, body, policy=ctx.outbound)
    return Envelope(
        data=service.webhook_created(webhook, secret),
        message="Webhook created; store the secret now, it is not shown again",
    )


@router.get("", response_model=ListEnvelope[WebhookOut], summary="List webhooks")
async def list_webhooks(session: SessionDep, principal: ViewerAuth) -> ListEnvelope[WebhookOut]:
    webhooks = await service.list_webhooks(session)
    reveal = principal.role >= Role.admin
    return ListEnvelope(
        data=[service.webhook_out(w, reveal_url=reveal) for w in webhooks],
        count=len(webhooks),
        message="Webhooks retrieved successfully",
    )


@router.get("/{webhook_id}", response_model=Envelope[WebhookOut], summary="Read one webhook")
async def get_webhook(
    webhook_id: str, session: SessionDep, principal: ViewerAuth
) -> Envelope[WebhookOut]:
    webhook = await service.get_webhook(session, service.parse_id(webhook_id))
    out = service.webhook_out(webhook, reveal_url=principal.role >= Role.admin)
    return Envelope(data=out, message="Webhook retrieved successfully")


@router.put(
    "/{webhook_id}",
    response_model=Envelope[WebhookOut],
    summary="Update a webhook (partial)",
    description="Absent fields keep their value. Sending `secret` rotates it (write-only). "
    "A new `url` is checked as on creation.",
)
async def update_webhook(
    webhook_id: str, body: WebhookUpdate, session: SessionDep, ctx: ContextDep, _: AdminAuth
) -> Envelope[WebhookOut]:
    webhook = await service.update_webhook(
        session, service.parse_id(webhook_id), body, policy=ctx.outbound
    )
    return Envelope(data=service.webhook_out(webhook), message="Webhook updated successfully")


@router.delete(
    "/{webhook_id}",
    response_model=Envelope[WebhookOut],
    summary="Delete a webhook",
    description="Its pending deliveries are dropped with it.",
)
async def delete_webhook(
    webhook_id: str, session: SessionDep, _: AdminAuth
) -> Envelope[WebhookOut]:
    webhook = await service.delete_webhook(session, service.parse_id(webhook_id))
    return Envelope(data=service.webhook_out(webhook), message="Webhook deleted")


@router.get(
    "/{webhook_id}/deliveries",
    response_model=ListEnvelope[DeliveryOut],
    summary="Recent deliveries of a webhook, newest first",
    description="status: pending (waiting or retrying), delivered, dead (gave up after "
    "PERFPILOT_WEBHOOK_MAX_ATTEMPTS attempts). `lastError` shows admins the start of the "
    "receiver's error response (256 bytes at most); other roles see its status code only.",
)
async def list_deliveries(
    webhook_id: str,
    session: SessionDep,
    principal: ViewerAuth,
    delivery_status: Annotated[DeliveryStatus | None, Query(alias="status")] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> ListEnvelope[DeliveryOut]:
    deliveries = await service.list_deliveries(
        session,
        service.parse_id(webhook_id),
        status=delivery_status,
        limit=limit,
        reveal_response=principal.role >= Role.admin,
    )
    return ListEnvelope(
        data=deliveries, count=len(deliveries), message="Deliveries retrieved successfully"
    )


@router.post(
    "/{webhook_id}/test",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=Envelope[DeliveryOut],
    summary="Send a test event",
    description="Queues a `webhook.test` event (an Alertmanager-format test alert) to this "
    "webhook, whatever its event filter; follow it in /deliveries.",
)
async def test_webhook(webhook_id: str, session: SessionDep, _: AdminAuth) -> Envelope[DeliveryOut]:
    delivery = await service.enqueue_test(session, service.parse_id(webhook_id))
    return Envelope(data=service.delivery_out(delivery), message="Test event queued")
