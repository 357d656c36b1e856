"""Standard Webhooks signatures, verified by the `standardwebhooks` library itself on what
the (real, local) receiver got, with the secret form the API returns on creation."""

from __future__ import annotations

import pytest
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from tests.conftest import LiveServer
from tests.webhook_receiver import WebhookReceiver


async def test_deliveries_verify_with_the_standardwebhooks_library(live_server: LiveServer) -> None:
    s = live_server
    async with WebhookReceiver() as receiver:
        receiver.fail_next(1)  # a retry: same webhook-id, signed afresh
        created = await s.client.post(
            s.api("/webhooks"),
            json={"url": receiver.url, "events": ["alert.fired"], "secret": "k" * 40},
            headers=s.auth(),
        )
        assert created.status_code == 201, created.text
        hook = created.json()["data"]
        assert hook["standardSecret"].startswith("whsec_")
        tested = await s.client.post(s.api(f"/webhooks/{hook['id']}/test"), headers=s.auth())
        assert tested.status_code in (200, 201, 202), tested.text
        first, retry = await receiver.wait_for(2, timeout=30)

    verifier = Webhook(hook["standardSecret"])
    for request in (first, retry):
        body = verifier.verify(request.body, request.headers)
        assert body["perfpilot"]["event"] == "webhook.test"
        assert request.header("X-Perfpilot-Signature").startswith("v1=")  # still there too
    assert first.header("webhook-id") == retry.header("webhook-id")  # one message, retried
    assert first.header("webhook-id") == first.header("X-Perfpilot-Delivery")

    with pytest.raises(WebhookVerificationError):
        verifier.verify(first.body.replace(b"webhook.test", b"webhook.tent"), first.headers)
    with pytest.raises(WebhookVerificationError):
        Webhook(b"another secret, 40 characters long......").verify(first.body, first.headers)
