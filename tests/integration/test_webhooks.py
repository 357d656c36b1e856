"""Webhooks over real HTTP: the subscription API, signed deliveries to a real receiver, retries,
dead letters, and what /health and /metrics say about the outbox."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

import pytest

from perfpilot.webhooks.service import enqueue_event
from perfpilot.webhooks.signing import verify_signature
from tests.conftest import LiveServer
from tests.webhook_receiver import WebhookReceiver

# fast retries and polling, so the retry paths run in well under a second
FAST: dict[str, Any] = {
    "webhook_poll_interval_seconds": 0.05,
    "webhook_backoff_base_seconds": 0.01,
    "webhook_backoff_cap_seconds": 0.05,
}
SECRET = "s3cret-signing-key-0123456789"


@pytest.fixture
async def receiver() -> AsyncIterator[WebhookReceiver]:
    async with WebhookReceiver() as r:
        yield r


async def create_hook(s: LiveServer, url: str, **fields: Any) -> dict[str, Any]:
    body = {"url": url, "events": ["alert.fired"], "secret": SECRET} | fields
    response = await s.client.post(s.api("/webhooks"), json=body, headers=s.auth())
    assert response.status_code == 201, response.text
    return response.json()["data"]


async def deliveries(s: LiveServer, hook_id: str, **params: Any) -> list[dict[str, Any]]:
    response = await s.client.get(
        s.api(f"/webhooks/{hook_id}/deliveries"), params=params, headers=s.auth("viewer")
    )
    assert response.status_code == 200, response.text
    return response.json()["data"]


async def eventually(check: Callable[[], Awaitable[bool]], timeout: float = 10.0) -> None:
    async with asyncio.timeout(timeout):
        while not await check():
            await asyncio.sleep(0.02)


async def delivery_status(s: LiveServer, hook_id: str, status: str) -> dict[str, Any]:
    async def done() -> bool:
        return any(d["status"] == status for d in await deliveries(s, hook_id))

    await eventually(done)
    [delivery] = await deliveries(s, hook_id, status=status)
    return delivery


# --- subscriptions API -----------------------------------------------------------------------


async def test_crud_never_returns_the_secret_after_creation(live_server: LiveServer) -> None:
    s = live_server
    created = await s.client.post(
        s.api("/webhooks"),
        json={"url": "https://hooks.example.com/a", "events": ["alert.fired", "alert.resolved"]},
        headers=s.auth(),
    )
    assert created.status_code == 201, created.text
    hook = created.json()["data"]
    secret = hook.pop("secret")
    assert secret.startswith("whsec_") and len(secret) > 40  # generated when none was given
    standard = hook.pop("standardSecret")  # the same secret, for Standard Webhooks verifiers
    assert hook["events"] == ["alert.fired", "alert.resolved"]
    assert hook["serviceName"] is None and hook["isActive"] is True

    got = await s.client.get(s.api(f"/webhooks/{hook['id']}"), headers=s.auth())
    assert got.status_code == 200 and got.json()["data"] == hook
    listed = await s.client.get(s.api("/webhooks"), headers=s.auth("viewer"))
    masked = hook | {"url": "https://hooks.example.com/…"}  # viewers see scheme and host
    assert listed.json()["count"] == 1 and listed.json()["data"] == [masked]

    updated = await s.client.put(
        s.api(f"/webhooks/{hook['id']}"),
        json={"serviceName": "ai-chat-service", "isActive": False, "secret": "rotated-" * 3},
        headers=s.auth(),
    )
    assert updated.status_code == 200, updated.text
    data = updated.json()["data"]
    assert data["serviceName"] == "ai-chat-service" and data["isActive"] is False
    assert data["url"] == hook["url"] and data["events"] == hook["events"]  # partial update
    for response in (created, got, listed, updated):
        assert "rotated-" not in response.text
    for response in (got, listed, updated):
        assert secret not in response.text and "secret" not in response.json()["data"]
        assert standard not in response.text and "standardSecret" not in response.json()["data"]

    deleted = await s.client.delete(s.api(f"/webhooks/{hook['id']}"), headers=s.auth())
    assert deleted.status_code == 200
    gone = await s.client.get(s.api(f"/webhooks/{hook['id']}"), headers=s.auth())
    assert gone.status_code == 404


@pytest.mark.parametrize("role", ["viewer", "operator"])
async def test_only_admins_write(live_server: LiveServer, role: str) -> None:
    s = live_server
    hook = await create_hook(s, "https://hooks.example.com/a")
    body = {"url": "https://hooks.example.com/b", "events": ["alert.fired"]}
    calls = [
        s.client.post(s.api("/webhooks"), json=body, headers=s.auth(role)),
        s.client.put(s.api(f"/webhooks/{hook['id']}"), json=body, headers=s.auth(role)),
        s.client.delete(s.api(f"/webhooks/{hook['id']}"), headers=s.auth(role)),
        s.client.post(s.api(f"/webhooks/{hook['id']}/test"), headers=s.auth(role)),
    ]
    for response in await asyncio.gather(*calls):
        assert response.status_code == 403, response.text
        assert response.json()["error"]["code"] == "forbidden"
    assert (await s.client.get(s.api("/webhooks"), headers=s.auth(role))).status_code == 200
    no_token = await s.client.get(s.api("/webhooks"))
    assert no_token.status_code == 401


async def test_unknown_or_malformed_id_is_404(live_server: LiveServer) -> None:
    s = live_server
    for hook_id in (str(uuid.uuid4()), "not-a-uuid"):
        base = s.api(f"/webhooks/{hook_id}")
        for response in (
            await s.client.get(base, headers=s.auth()),
            await s.client.put(base, json={"isActive": False}, headers=s.auth()),
            await s.client.delete(base, headers=s.auth()),
            await s.client.get(f"{base}/deliveries", headers=s.auth()),
            await s.client.post(f"{base}/test", headers=s.auth()),
        ):
            assert response.status_code == 404, response.text
            assert response.json()["error"]["code"] == "not_found"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"url": "ftp://example.com/x", "events": ["alert.fired"]}, "url"),
        ({"url": "https://", "events": ["alert.fired"]}, "url"),
        ({"url": "not a url", "events": ["alert.fired"]}, "url"),
        ({"url": "https://example.com/x", "events": []}, "events"),
        ({"url": "https://example.com/x", "events": ["alert.exploded"]}, "events.0"),
        ({"url": "https://example.com/x", "events": ["alert.fired"], "secret": "short"}, "secret"),
        (
            {"url": "https://example.com/x", "events": ["alert.fired"], "serviceName": "a b"},
            "serviceName",
        ),
        ({"url": "https://example.com/x", "events": ["alert.fired"], "colour": "red"}, "colour"),
    ],
)
async def test_invalid_fields_are_422_naming_the_field(
    live_server: LiveServer, body: dict[str, Any], field: str
) -> None:
    s = live_server
    response = await s.client.post(s.api("/webhooks"), json=body, headers=s.auth())
    assert response.status_code == 422, response.text
    assert field in {d["field"] for d in response.json()["error"]["details"]}


async def test_update_rejects_bad_fields_and_nulls(live_server: LiveServer) -> None:
    s = live_server
    hook = await create_hook(s, "https://hooks.example.com/a")
    for body, field in (
        ({"url": "gopher://x"}, "url"),
        ({"events": []}, "events"),
        ({"events": None}, "events"),
        ({"isActive": None}, "isActive"),
    ):
        response = await s.client.put(s.api(f"/webhooks/{hook['id']}"), json=body, headers=s.auth())
        assert response.status_code == 422, response.text
        assert field in {d["field"] for d in response.json()["error"]["details"]}
    # serviceName null is meaningful: every service
    scoped = await s.client.put(
        s.api(f"/webhooks/{hook['id']}"), json={"serviceName": "svc"}, headers=s.auth()
    )
    assert scoped.json()["data"]["serviceName"] == "svc"
    unscoped = await s.client.put(
        s.api(f"/webhooks/{hook['id']}"), json={"serviceName": None}, headers=s.auth()
    )
    assert unscoped.json()["data"]["serviceName"] is None


# --- delivery --------------------------------------------------------------------------------


@pytest.mark.settings(**FAST)
async def test_test_event_is_delivered_signed_in_alertmanager_format(
    live_server: LiveServer, receiver: WebhookReceiver
) -> None:
    s = live_server
    hook = await create_hook(s, receiver.url)
    queued = await s.client.post(s.api(f"/webhooks/{hook['id']}/test"), headers=s.auth())
    assert queued.status_code == 202, queued.text
    queued_delivery = queued.json()["data"]
    assert queued_delivery["event"] == "webhook.test" and queued_delivery["status"] == "pending"

    [request] = await receiver.wait_for(1)
    assert request.method == "POST" and request.path == "/hook"
    assert request.header("content-type") == "application/json"
    assert request.header("x-perfpilot-event") == "webhook.test"
    assert request.header("x-perfpilot-delivery") == queued_delivery["id"]
    assert request.header("idempotency-key") == queued_delivery["idempotencyKey"]
    timestamp = request.header("x-perfpilot-timestamp")
    signature = request.header("x-perfpilot-signature")
    assert timestamp is not None and signature is not None and signature.startswith("v1=")
    assert verify_signature(SECRET, timestamp, request.body, signature)
    assert not verify_signature("another-secret-0123456", timestamp, request.body, signature)
    assert not verify_signature(SECRET, timestamp, request.body + b" ", signature)

    body = request.json()
    assert body["version"] == "4" and body["status"] == "firing"
    assert body["perfpilot"]["event"] == "webhook.test"
    [alert] = body["alerts"]
    assert alert["labels"]["alertname"] == "PerfpilotWebhookTest"
    assert alert["endsAt"] == "0001-01-01T00:00:00Z"

    delivered = await delivery_status(s, hook["id"], "delivered")
    assert delivered["attempts"] == 1 and delivered["lastStatusCode"] == 200
    assert delivered["nextAttemptAt"] is None and delivered["deliveredAt"] is not None
    assert SECRET not in json.dumps(await deliveries(s, hook["id"]))


@pytest.mark.settings(**FAST)
async def test_failures_are_retried_with_the_same_key_and_bytes(
    live_server: LiveServer, receiver: WebhookReceiver
) -> None:
    s = live_server
    hook = await create_hook(s, receiver.url)
    receiver.fail_next(3)
    await s.client.post(s.api(f"/webhooks/{hook['id']}/test"), headers=s.auth())

    requests = await receiver.wait_for(4)
    delivered = await delivery_status(s, hook["id"], "delivered")
    assert delivered["attempts"] == 4 and delivered["lastStatusCode"] == 200
    assert delivered["lastError"] is None
    assert len(requests) == 4
    assert {r.header("idempotency-key") for r in requests} == {delivered["idempotencyKey"]}
    assert {r.header("x-perfpilot-delivery") for r in requests} == {delivered["id"]}
    assert {r.body for r in requests} == {requests[0].body}
    assert [r.header("x-perfpilot-attempt") for r in requests] == ["1", "2", "3", "4"]
    for r in requests:
        assert verify_signature(
            SECRET,
            r.header("x-perfpilot-timestamp") or "",
            r.body,
            r.header("x-perfpilot-signature") or "",
        )


@pytest.mark.settings(**FAST, webhook_max_attempts=2, log_level="WARNING")
async def test_failed_and_dead_deliveries_are_logged_without_raising(
    live_server: LiveServer, receiver: WebhookReceiver, capsys: pytest.CaptureFixture[str]
) -> None:
    """Logging a failure passed `event=` twice to structlog: every failed delivery's task died
    with a TypeError ("Task exception was never retrieved") and nothing was logged."""
    s = live_server
    loop = asyncio.get_running_loop()
    unhandled: list[dict[str, Any]] = []
    previous = loop.get_exception_handler()
    loop.set_exception_handler(lambda _, context: unhandled.append(context))
    try:
        hook = await create_hook(s, receiver.url)
        receiver.default_status = 500
        await s.client.post(s.api(f"/webhooks/{hook['id']}/test"), headers=s.auth())
        dead = await delivery_status(s, hook["id"], "dead")
        await asyncio.sleep(0.1)  # the log line follows the recorded outcome
    finally:
        loop.set_exception_handler(previous)
    lines = [json.loads(line) for line in capsys.readouterr().err.splitlines() if "{" in line]
    logged = {line["event"]: line for line in lines if line.get("delivery_id") == dead["id"]}
    assert set(logged) == {"webhook_delivery_failed", "webhook_delivery_dead"}
    for line in logged.values():
        assert line["webhook_event"] == "webhook.test"
        assert line["status_code"] == 500
    assert [line["attempt"] for line in logged.values()] == [1, 2]
    assert unhandled == []


async def health(s: LiveServer) -> dict[str, Any]:
    response = await s.client.get(s.api("/health"), headers=s.auth("viewer"))
    assert response.status_code == 200, response.text
    return response.json()["data"]


@pytest.mark.settings(**FAST, webhook_max_attempts=3)
async def test_dead_after_max_attempts_and_health_says_so(
    live_server: LiveServer, receiver: WebhookReceiver
) -> None:
    s = live_server
    assert (await health(s))["services"]["alerts"] is True
    hook = await create_hook(s, receiver.url)
    receiver.default_status = 500
    await s.client.post(s.api(f"/webhooks/{hook['id']}/test"), headers=s.auth())

    dead = await delivery_status(s, hook["id"], "dead")
    assert dead["attempts"] == 3 and dead["lastStatusCode"] == 500
    assert dead["lastError"].startswith("HTTP 500")
    assert dead["nextAttemptAt"] is None and dead["deliveredAt"] is None
    await asyncio.sleep(0.3)
    assert len(receiver.requests) == 3  # and no more

    async def alerts_down() -> bool:
        return (await health(s))["services"]["alerts"] is False

    await eventually(alerts_down)
    assert (await health(s))["status"] == "degraded"


@pytest.mark.settings(
    **(FAST | {"webhook_backoff_cap_seconds": 0.2}),
    webhook_max_attempts=100,
    webhook_stuck_after_seconds=0.3,
)
async def test_health_turns_false_while_deliveries_keep_failing_and_recovers(
    live_server: LiveServer, receiver: WebhookReceiver
) -> None:
    s = live_server
    hook = await create_hook(s, receiver.url)
    receiver.default_status = 500
    await s.client.post(s.api(f"/webhooks/{hook['id']}/test"), headers=s.auth())

    def alerts_is(value: bool) -> Callable[[], Awaitable[bool]]:
        async def check() -> bool:
            return (await health(s))["services"]["alerts"] is value

        return check

    await eventually(alerts_is(False))
    receiver.default_status = 200
    await delivery_status(s, hook["id"], "delivered")
    await eventually(alerts_is(True))


async def prometheus(s: LiveServer) -> dict[str, float]:
    text = (await s.client.get("/metrics", headers=s.auth("viewer"))).text
    values = {}
    for line in text.splitlines():
        if line.startswith("perfpilot_outbox_backlog ") or line.startswith(
            "perfpilot_webhook_delivery_latency_seconds_count"
        ):
            name, value = line.rsplit(" ", 1)
            values[name] = float(value)
    return values


@pytest.mark.settings(
    **(FAST | {"webhook_backoff_base_seconds": 3600, "webhook_backoff_cap_seconds": 3600})
)
async def test_outbox_backlog_and_latency_in_metrics(
    live_server: LiveServer, receiver: WebhookReceiver
) -> None:
    s = live_server
    refused = await create_hook(s, "http://127.0.0.1:1/nobody-listens")
    working = await create_hook(s, receiver.url)
    for _ in range(2):
        await s.client.post(s.api(f"/webhooks/{refused['id']}/test"), headers=s.auth())

    async def backlog_is(n: float) -> bool:
        return (await prometheus(s)).get("perfpilot_outbox_backlog") == n

    await eventually(lambda: backlog_is(2))  # failed once, retrying in up to an hour
    # pause -> held, not late: the gauge counts what is waiting to be sent
    paused = {"isActive": False}
    await s.client.put(s.api(f"/webhooks/{refused['id']}"), json=paused, headers=s.auth())
    await eventually(lambda: backlog_is(0))
    resumed = {"isActive": True}
    await s.client.put(s.api(f"/webhooks/{refused['id']}"), json=resumed, headers=s.auth())
    await eventually(lambda: backlog_is(2))

    await s.client.post(s.api(f"/webhooks/{working['id']}/test"), headers=s.auth())

    async def latency_observed() -> bool:
        metrics = await prometheus(s)
        return metrics.get("perfpilot_webhook_delivery_latency_seconds_count") == 1

    await eventually(latency_observed)
    await eventually(lambda: backlog_is(2))


# --- enqueue_event: the contract for alert and action code -----------------------------------


@pytest.mark.settings(**FAST)
async def test_enqueue_event_matches_subscriptions_and_commits_with_the_caller(
    live_server: LiveServer, receiver: WebhookReceiver
) -> None:
    s = live_server
    every = await create_hook(s, receiver.url + "?every", events=["alert.fired"])
    chat = await create_hook(
        s, receiver.url + "?chat", events=["alert.fired"], serviceName="ai-chat-service"
    )
    resolved = await create_hook(s, receiver.url + "?resolved", events=["alert.resolved"])
    await create_hook(s, receiver.url + "?paused", events=["alert.fired"], isActive=False)
    payload = {"version": "4", "status": "firing", "perfpilot": {"event": "alert.fired", "n": 1.5}}

    async def enqueue(service: str, key: str, *, commit: bool = True) -> int:
        async with s.ctx.sessionmaker() as session:
            count = await enqueue_event(
                session,
                event="alert.fired",
                payload=payload,
                service_name=service,
                event_at=datetime.now(UTC),
                idempotency_key=key,
            )
            await (session.commit() if commit else session.rollback())
        return count

    assert await enqueue("embedding-service", "k1") == 1
    assert await enqueue("ai-chat-service", "k2") == 2
    assert await enqueue("ai-chat-service", "rolled-back", commit=False) == 2
    requests = await receiver.wait_for(3)
    await asyncio.sleep(0.3)
    assert sorted((r.path, r.header("idempotency-key")) for r in receiver.requests) == [
        ("/hook?chat", "k2"),
        ("/hook?every", "k1"),
        ("/hook?every", "k2"),
    ]
    assert all(json.loads(r.body) == payload for r in requests)
    assert [d["event"] for d in await deliveries(s, chat["id"])] == ["alert.fired"]
    assert len(await deliveries(s, every["id"])) == 2

    # a change to a subscription applies to the very next event (cache invalidated on commit)
    await s.client.put(
        s.api(f"/webhooks/{resolved['id']}"), json={"events": ["alert.fired"]}, headers=s.auth()
    )
    assert await enqueue("embedding-service", "k3") == 2
    await s.client.delete(s.api(f"/webhooks/{every['id']}"), headers=s.auth())
    assert await enqueue("embedding-service", "k4") == 1


async def test_viewers_see_only_scheme_and_host_of_webhook_urls(live_server: LiveServer) -> None:
    s = live_server
    hook = await create_hook(s, "https://hooks.example.com/services/T000/B000/credential")
    for path in ("/webhooks", f"/webhooks/{hook['id']}"):
        as_viewer = (await s.client.get(s.api(path), headers=s.auth("viewer"))).json()["data"]
        as_admin = (await s.client.get(s.api(path), headers=s.auth())).json()["data"]
        viewer_url = (as_viewer[0] if isinstance(as_viewer, list) else as_viewer)["url"]
        admin_url = (as_admin[0] if isinstance(as_admin, list) else as_admin)["url"]
        assert viewer_url == "https://hooks.example.com/…"
        assert admin_url == "https://hooks.example.com/services/T000/B000/credential"
