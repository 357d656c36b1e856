"""Silences over HTTP: a silenced alert is recorded and listed as silenced, but no webhook
reaches the (real, local) receiver and no action runs; when the silence is expired and the
alert is still open, both resume. Another service is untouched throughout."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tests.conftest import LiveServer
from tests.webhook_receiver import WebhookReceiver

QUIET = "chat-service"  # the silenced one
LOUD = "embed-service"  # the one left alone


@pytest.fixture
async def receiver() -> AsyncIterator[WebhookReceiver]:
    async with WebhookReceiver() as r:
        yield r


def latency(service: str, value: float, *, ago: float = 0.0) -> dict[str, Any]:
    at = datetime.now(UTC) - timedelta(seconds=ago)
    return {
        "serviceName": service,
        "metricType": "latency",
        "value": value,
        "timestamp": at.isoformat(),
    }


async def setup_rule_and_hook(s: LiveServer, url: str) -> None:
    hook = await s.client.post(
        s.api("/webhooks"),
        json={"url": url, "events": ["alert.fired", "alert.resolved"], "secret": "s" * 32},
        headers=s.auth(),
    )
    assert hook.status_code == 201, hook.text
    rule = await s.client.post(
        s.api("/rules"),
        json={
            "name": "slow replies",
            "condition": {"metric": "latency", "operator": "gt", "threshold": 90},
            "action": {"type": "scale_up", "cooldown": 3600},
        },
        headers=s.auth(),
    )
    assert rule.status_code == 201, rule.text


async def silence(s: LiveServer, matchers: list[dict[str, str]], **fields: Any) -> Any:
    body = {
        "matchers": matchers,
        "endsAt": (datetime.now(UTC) + timedelta(hours=1)).isoformat(),
        "comment": "deploying v2",
    } | fields
    return await s.client.post(s.api("/silences"), json=body, headers=s.auth("operator", "dana"))


async def alerts_of(s: LiveServer, service: str) -> list[dict[str, Any]]:
    response = await s.client.get(
        s.api("/alerts"), params={"serviceName": service}, headers=s.auth("viewer")
    )
    assert response.status_code == 200, response.text
    return response.json()["data"]


async def actions_of(s: LiveServer, service: str) -> list[dict[str, Any]]:
    response = await s.client.get(
        s.api("/actions"),
        params={"serviceName": service, "source": "rule"},
        headers=s.auth("viewer"),
    )
    assert response.status_code == 200, response.text
    return response.json()["data"]


def fired_services(receiver: WebhookReceiver) -> list[str]:
    return [
        r.json()["alerts"][0]["labels"]["service"]
        for r in receiver.requests
        if r.json()["perfpilot"]["event"] == "alert.fired"
    ]


async def test_silence_mutes_webhook_and_action_then_both_resume(
    live_server: LiveServer, receiver: WebhookReceiver
) -> None:
    s = live_server
    await setup_rule_and_hook(s, receiver.url)
    created = await silence(s, [{"label": "service", "op": "=", "value": QUIET}])
    assert created.status_code == 201, created.text
    made = created.json()["data"]
    assert made["createdBy"] == "dana" and made["state"] == "active"

    await s.push(latency(QUIET, 95, ago=2), latency(LOUD, 95, ago=2))
    await receiver.wait_for(1)
    await asyncio.sleep(0.3)  # any other delivery was written in the same transaction
    assert fired_services(receiver) == [LOUD]

    [quiet_alert] = await alerts_of(s, QUIET)
    assert quiet_alert["status"] == "active"
    assert quiet_alert["silencedBy"] == [made["id"]]
    [loud_alert] = await alerts_of(s, LOUD)
    assert loud_alert["silencedBy"] == []
    assert await actions_of(s, QUIET) == []
    assert [a["status"] for a in await actions_of(s, LOUD)] == ["executed"]

    # still firing while silenced: a tick changes nothing
    await s.push(latency(QUIET, 96, ago=1))
    s.runner.tick_now()
    await s.settle()
    assert await actions_of(s, QUIET) == []
    assert fired_services(receiver) == [LOUD]

    expired = await s.client.delete(s.api(f"/silences/{made['id']}"), headers=s.auth("operator"))
    assert expired.status_code == 200, expired.text
    assert expired.json()["data"]["state"] == "expired"
    s.runner.tick_now()
    await s.settle()
    await receiver.wait_for(2)
    assert fired_services(receiver) == [LOUD, QUIET]
    assert receiver.requests[1].json()["perfpilot"]["alertId"] == quiet_alert["id"]
    [quiet_action] = await actions_of(s, QUIET)
    assert quiet_action["status"] == "executed"
    assert quiet_action["alertId"] == quiet_alert["id"]
    [quiet_alert] = await alerts_of(s, QUIET)
    assert quiet_alert["silencedBy"] == []
    assert len(await actions_of(s, LOUD)) == 1  # the other service was never touched

    # expired silences stay listed, for audit
    listed = await s.client.get(s.api("/silences"), headers=s.auth("viewer"))
    assert listed.status_code == 200
    [row] = listed.json()["data"]
    assert row["state"] == "expired" and row["expiredBy"] == "tester"
    again = await s.client.delete(s.api(f"/silences/{made['id']}"), headers=s.auth("operator"))
    assert again.status_code == 409

    # reports count silenced alerts apart
    for service, silenced in ((QUIET, 1), (LOUD, 0)):
        report = await s.client.post(
            s.api("/reports"),
            json={"serviceName": service, "reportType": "daily"},
            headers=s.auth("operator"),
        )
        assert report.status_code == 201, report.text
        counts = report.json()["data"]["summary"]["alertCounts"]
        assert (counts["total"], counts["silenced"]) == (1, silenced)


async def test_silence_created_while_alert_open_stops_repeats_and_resolve_notice(
    live_server: LiveServer, receiver: WebhookReceiver
) -> None:
    s = live_server
    await setup_rule_and_hook(s, receiver.url)
    await s.push(latency(QUIET, 95, ago=5))
    await receiver.wait_for(1)
    made = (await silence(s, [{"label": "rule", "op": "=~", "value": "slow.*"}])).json()["data"]
    s.runner.tick_now()
    await s.settle()
    [alert] = await alerts_of(s, QUIET)
    assert alert["silencedBy"] == [made["id"]]
    await s.push(latency(QUIET, 10, ago=1))  # recovers while silenced: no resolved notice
    [alert] = await alerts_of(s, QUIET)
    assert alert["status"] == "resolved"
    await asyncio.sleep(0.3)
    assert [r.json()["perfpilot"]["event"] for r in receiver.requests] == ["alert.fired"]


async def test_silence_api_roles_and_validation(live_server: LiveServer) -> None:
    s = live_server
    viewer = await s.client.post(
        s.api("/silences"),
        json={
            "matchers": [{"label": "service", "op": "=", "value": "x"}],
            "endsAt": (datetime.now(UTC) + timedelta(hours=1)).isoformat(),
            "comment": "c",
        },
        headers=s.auth("viewer"),
    )
    assert viewer.status_code == 403
    empty = await silence(s, [])
    assert empty.status_code == 422
    assert "matchers" in empty.text
    now = datetime.now(UTC)
    backwards = await silence(
        s,
        [{"label": "service", "op": "=", "value": "x"}],
        startsAt=(now + timedelta(hours=2)).isoformat(),
        endsAt=(now + timedelta(hours=1)).isoformat(),
    )
    assert backwards.status_code == 422
    assert "endsAt" in backwards.text
    past = await silence(s, [{"label": "service", "op": "=", "value": "x"}], endsAt=now.isoformat())
    assert past.status_code == 422
    assert past.json()["error"]["details"][0]["field"] == "endsAt"
    bad_regex = await silence(s, [{"label": "service", "op": "=~", "value": "("}])
    assert bad_regex.status_code == 422
    pending = await silence(
        s,
        [{"label": "service", "op": "=", "value": "x"}],
        startsAt=(now + timedelta(hours=1)).isoformat(),
        endsAt=(now + timedelta(hours=2)).isoformat(),
    )
    assert pending.status_code == 201
    assert pending.json()["data"]["state"] == "pending"
    missing = await s.client.get(s.api("/silences/nope"), headers=s.auth("viewer"))
    assert missing.status_code == 404
    active = await s.client.get(
        s.api("/silences"), params={"state": "pending"}, headers=s.auth("viewer")
    )
    assert active.json()["count"] == 1
