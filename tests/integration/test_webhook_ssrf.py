"""SSRF through webhooks, over real HTTP: the outbound address policy at creation (422 naming
`url`) and at delivery (refused before any byte is sent), and what the allow-list opens.

Address spellings are resolved by the OS exactly as the dispatcher's client would
(`getaddrinfo`: `127.1`, `2130706433` and `0x7f000001` are 127.0.0.1). One test swaps the
policy's resolver: there is no DNS server here whose answers a test could change, and DNS
rebinding (a name answering a public address at creation and an internal one at delivery) is
exactly what the delivery-time check is for. The address checks and the connection are real.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from perfpilot.core.outbound import OutboundPolicy
from perfpilot.models import Webhook
from perfpilot.webhooks import repository
from tests.conftest import LiveServer, make_settings, start_server
from tests.webhook_receiver import WebhookReceiver

FAST: dict[str, Any] = {
    "webhook_poll_interval_seconds": 0.05,
    "webhook_backoff_base_seconds": 0.01,
    "webhook_backoff_cap_seconds": 0.05,
    "webhook_max_attempts": 1,
}
NOTHING_ALLOWED = FAST | {"outbound_allow": []}
LOOPBACK_ALLOWED = FAST | {"outbound_allow": ["127.0.0.0/8"]}

LOOPBACK = "loopback; refused unless PERFPILOT_OUTBOUND_ALLOW names it"
PRIVATE = "private range; refused unless PERFPILOT_OUTBOUND_ALLOW names it"
ALWAYS = "always refused"

# (host as written in the URL, what the refusal says); {port} is the receiver's port, so a
# destination that got through would reach a real listener for the loopback forms
ADDRESS_FORMS = [
    ("127.0.0.1", LOOPBACK),
    ("127.1", LOOPBACK),
    ("2130706433", LOOPBACK),
    ("0x7f000001", LOOPBACK),
    ("[::1]", LOOPBACK),
    ("[::ffff:127.0.0.1]", LOOPBACK),
    ("localhost", LOOPBACK),
    ("0.0.0.0", ALWAYS),
    ("169.254.169.254", ALWAYS),
    ("[::ffff:169.254.169.254]", ALWAYS),
    ("[fd00:ec2::254]", ALWAYS),
    ("metadata.google.internal", ALWAYS),
    ("100.100.100.200", ALWAYS),
    ("10.0.0.1", PRIVATE),
    ("172.16.0.1", PRIVATE),
    ("192.168.1.1", PRIVATE),
    ("100.64.0.1", PRIVATE),
    ("[fc00::1]", PRIVATE),
]
FORM_IDS = [host for host, _ in ADDRESS_FORMS]


@pytest.fixture
async def receiver() -> AsyncIterator[WebhookReceiver]:
    async with WebhookReceiver() as r:
        yield r


def url_for(host: str, port: int) -> str:
    return f"http://{host}:{port}/hook"


async def post_hook(s: LiveServer, url: str) -> Any:
    body = {"url": url, "events": ["alert.fired"]}
    return await s.client.post(s.api("/webhooks"), json=body, headers=s.auth())


async def eventually(check: Callable[[], Awaitable[bool]], timeout: float = 10.0) -> None:
    async with asyncio.timeout(timeout):
        while not await check():
            await asyncio.sleep(0.02)


async def send_test_and_wait_dead(s: LiveServer, hook_id: str, role: str = "admin") -> Any:
    queued = await s.client.post(s.api(f"/webhooks/{hook_id}/test"), headers=s.auth())
    assert queued.status_code == 202, queued.text
    found: list[dict[str, Any]] = []

    async def dead() -> bool:
        response = await s.client.get(
            s.api(f"/webhooks/{hook_id}/deliveries"),
            params={"status": "dead"},
            headers=s.auth(role),
        )
        found[:] = response.json()["data"]
        return bool(found)

    await eventually(dead)
    return found[0]


async def store_hook_directly(s: LiveServer, url: str) -> str:
    """A subscription written before the policy existed (an upgrade keeps old rows)."""
    now = datetime.now(UTC)
    webhook = Webhook(
        id=uuid.uuid4(),
        url=url,
        secret="k" * 32,
        events=["alert.fired"],
        service_name=None,
        description="",
        is_active=True,
        created_at=now,
        updated_at=now,
    )
    async with s.ctx.sessionmaker() as session, session.begin():
        await repository.add_webhook(session, webhook)
    return str(webhook.id)


# --- at creation ------------------------------------------------------------------------------


@pytest.mark.settings(**NOTHING_ALLOWED)
@pytest.mark.parametrize(("host", "reason"), ADDRESS_FORMS, ids=FORM_IDS)
async def test_creation_refuses_every_internal_address_form(
    live_server: LiveServer, receiver: WebhookReceiver, host: str, reason: str
) -> None:
    s = live_server
    response = await post_hook(s, url_for(host, receiver.port))
    assert response.status_code == 422, response.text
    [detail] = response.json()["error"]["details"]
    assert (detail["field"], detail["in"]) == ("url", "body")
    assert reason in detail["message"]
    listed = await s.client.get(s.api("/webhooks"), headers=s.auth())
    assert listed.json()["data"] == []


@pytest.mark.settings(**NOTHING_ALLOWED)
async def test_update_to_an_internal_address_is_refused(live_server: LiveServer) -> None:
    s = live_server
    created = await post_hook(s, "https://hooks.example.com/a")  # not resolvable here: accepted
    assert created.status_code == 201, created.text
    hook_id = created.json()["data"]["id"]
    response = await s.client.put(
        s.api(f"/webhooks/{hook_id}"), json={"url": "http://169.254.169.254/"}, headers=s.auth()
    )
    assert response.status_code == 422, response.text
    assert response.json()["error"]["details"][0]["field"] == "url"
    stored = await s.client.get(s.api(f"/webhooks/{hook_id}"), headers=s.auth())
    assert stored.json()["data"]["url"] == "https://hooks.example.com/a"


# --- at delivery ------------------------------------------------------------------------------


@pytest.mark.settings(**NOTHING_ALLOWED)
@pytest.mark.parametrize(("host", "reason"), ADDRESS_FORMS, ids=FORM_IDS)
async def test_delivery_refuses_every_internal_address_form_and_sends_nothing(
    live_server: LiveServer, receiver: WebhookReceiver, host: str, reason: str
) -> None:
    s = live_server
    hook_id = await store_hook_directly(s, url_for(host, receiver.port))
    delivery = await send_test_and_wait_dead(s, hook_id)
    assert delivery["lastStatusCode"] is None
    assert delivery["lastError"].startswith("destination refused: ")
    assert reason in delivery["lastError"]
    assert receiver.requests == []


@pytest.mark.settings(**LOOPBACK_ALLOWED)
async def test_a_name_that_rebinds_is_checked_again_and_pinned_at_delivery(
    live_server: LiveServer, receiver: WebhookReceiver
) -> None:
    s = live_server
    answers = {"hooks.rebind.test": ["93.184.216.34"]}  # public at creation

    async def resolver(host: str, port: int) -> list[str]:
        if host not in answers:
            raise OSError(f"unknown test name {host}")
        return answers[host]

    policy: OutboundPolicy = s.ctx.outbound
    policy.resolver = resolver  # the dispatcher holds the same policy
    created = await post_hook(s, url_for("hooks.rebind.test", receiver.port))
    assert created.status_code == 201, created.text
    hook_id = created.json()["data"]["id"]

    answers["hooks.rebind.test"] = ["169.254.169.254"]  # the name now points at metadata
    delivery = await send_test_and_wait_dead(s, hook_id)
    assert "resolves to 169.254.169.254" in delivery["lastError"]
    assert receiver.requests == []

    # an allowed answer is used as checked: the request reaches that address, Host unchanged
    answers["hooks.rebind.test"] = ["127.0.0.1"]
    queued = await s.client.post(s.api(f"/webhooks/{hook_id}/test"), headers=s.auth())
    assert queued.status_code == 202
    [request] = await receiver.wait_for(1)
    assert request.header("host") == f"hooks.rebind.test:{receiver.port}"


async def test_a_restart_with_a_narrower_allow_list_stops_deliveries_to_what_it_closed(
    clean_database: str, tmp_path: Any, receiver: WebhookReceiver
) -> None:
    """Created while loopback was allowed; the operator then drops it from the setting."""
    hook_id = ""
    for allow in (["127.0.0.0/8"], []):
        settings = make_settings(clean_database, tmp_path, **FAST, outbound_allow=allow)
        server, task, (app, port) = await start_server(settings)
        try:
            async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=30) as client:
                s = LiveServer(base_url="", ctx=app.state.ctx, client=client)
                if not hook_id:
                    created = await post_hook(s, receiver.url)
                    assert created.status_code == 201, created.text
                    hook_id = created.json()["data"]["id"]
                    continue
                delivery = await send_test_and_wait_dead(s, hook_id)
                assert LOOPBACK in delivery["lastError"]
                assert receiver.requests == []
        finally:
            server.should_exit = True
            await task


# --- the allow-list ---------------------------------------------------------------------------


@pytest.mark.settings(**LOOPBACK_ALLOWED)
async def test_allow_list_opens_exactly_what_it_names(
    live_server: LiveServer, receiver: WebhookReceiver
) -> None:
    s = live_server
    for host in ("127.0.0.1", "127.1", "2130706433", "[::ffff:127.0.0.1]", "127.8.9.10"):
        response = await post_hook(s, url_for(host, receiver.port))
        assert response.status_code == 201, (host, response.text)
    for host in ("[::1]", "10.0.0.1", "192.168.1.1", "169.254.169.254", "0.0.0.0", "[fc00::1]"):
        response = await post_hook(s, url_for(host, receiver.port))
        assert response.status_code == 422, (host, response.text)
    # and what it opens is delivered to
    hook = await post_hook(s, url_for("127.1", receiver.port))
    await s.client.post(s.api(f"/webhooks/{hook.json()['data']['id']}/test"), headers=s.auth())
    await receiver.wait_for(1)


@pytest.mark.settings(**FAST, outbound_allow=["0.0.0.0/0", "::/0"])
@pytest.mark.parametrize(
    "host",
    ["169.254.169.254", "[fd00:ec2::254]", "100.100.100.200", "0.0.0.0", "[fe80::1]",
     "metadata.google.internal"],
)  # fmt: skip
async def test_allowing_everything_still_refuses_link_local_and_metadata(
    live_server: LiveServer, host: str
) -> None:
    response = await post_hook(live_server, url_for(host, 80))
    assert response.status_code == 422, response.text
    assert ALWAYS in response.json()["error"]["details"][0]["message"]


# --- what viewers see ---------------------------------------------------------------------------


@pytest.mark.settings(**LOOPBACK_ALLOWED)
async def test_viewers_see_the_status_of_a_failed_delivery_but_not_the_response_body(
    live_server: LiveServer, receiver: WebhookReceiver
) -> None:
    s = live_server
    receiver.default_status = 500
    hook = await post_hook(s, receiver.url)
    hook_id = hook.json()["data"]["id"]
    admin_view = await send_test_and_wait_dead(s, hook_id, role="admin")
    assert admin_view["lastError"] == 'HTTP 500: {"error": "receiver told to fail"}'
    for role in ("viewer", "operator"):
        response = await s.client.get(
            s.api(f"/webhooks/{hook_id}/deliveries"), headers=s.auth(role)
        )
        [delivery] = response.json()["data"]
        assert delivery["lastError"] == "HTTP 500"
        assert delivery["lastStatusCode"] == 500
