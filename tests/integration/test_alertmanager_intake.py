"""Receiving from Alertmanager: the real Alertmanager's webhook receiver pointed at Perfpilot
runs a bound action once despite Alertmanager's repeats, and its impact is measured; the
resolution closes the alert and reverts the action. Plus the endpoint's own contract, driven
directly (duplicates, unbound alerts, bad versions, roles)."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.alertmanager_process import ALERTMANAGER, AlertmanagerProcess
from tests.conftest import LiveServer
from tests.external import missing_program

SERVICE = "chat-service"
AM_LABELS = {"alertname": "HighLatency", "service": SERVICE, "severity": "critical"}
SETTLE, WINDOW = 1.0, 3.0  # impact: settle, then measure over this window (seconds)


async def eventually(check: Callable[[], Awaitable[Any]], timeout: float = 30.0) -> Any:
    async with asyncio.timeout(timeout):
        while True:
            result = await check()
            if result:
                return result
            await asyncio.sleep(0.1)


async def bind(s: LiveServer, **overrides: Any) -> dict[str, Any]:
    body = {
        "name": "HighLatency → fallback",
        "matchers": [{"label": "alertname", "op": "=", "value": "HighLatency"}],
        "action": {
            "type": "fallback",
            "parameters": {"models": ["small-model"]},
            "cooldown": 600,
            "revertOnResolve": True,
        },
        "metric": "latency",
        "aggregation": "avg",
        "window": 60,
    } | overrides
    response = await s.client.post(s.api("/alertmanager/bindings"), json=body, headers=s.auth())
    assert response.status_code == 201, response.text
    return response.json()["data"]


async def actions(s: LiveServer) -> list[dict[str, Any]]:
    response = await s.client.get(
        s.api("/actions"),
        params={"serviceName": SERVICE, "source": "alertmanager"},
        headers=s.auth("viewer"),
    )
    assert response.status_code == 200, response.text
    return list(reversed(response.json()["data"]))


async def am_alerts(s: LiveServer) -> list[dict[str, Any]]:
    response = await s.client.get(
        s.api("/alerts"), params={"serviceName": SERVICE}, headers=s.auth("viewer")
    )
    return [a for a in response.json()["data"] if a["source"] == "alertmanager"]


def latency(value: float, at: datetime) -> dict[str, Any]:
    return {
        "serviceName": SERVICE,
        "metricType": "latency",
        "value": value,
        "timestamp": at.isoformat(),
    }


def payload(
    status: str, *, starts_at: str, fingerprint: str = "1f2e3d4c5b6a7980"
) -> dict[str, Any]:
    return {
        "version": "4",
        "status": status,
        "receiver": "perfpilot",
        "groupKey": '{}:{alertname="HighLatency"}',
        "alerts": [
            {
                "status": status,
                "labels": {"alertname": "HighLatency", "service": SERVICE, "severity": "warning"},
                "annotations": {"summary": "p95 above 2s"},
                "startsAt": starts_at,
                "endsAt": "0001-01-01T00:00:00Z" if status == "firing" else starts_at,
                "generatorURL": "http://prometheus:9090/graph",
                "fingerprint": fingerprint,
            }
        ],
    }


async def test_intake_contract_duplicates_unbound_versions_roles(live_server: LiveServer) -> None:
    s = live_server
    await bind(s)
    url = s.api("/alertmanager/webhook")
    starts = (datetime.now(UTC) - timedelta(seconds=5)).isoformat()
    first = await s.client.post(
        url, json=payload("firing", starts_at=starts), headers=s.auth("operator")
    )
    assert first.status_code == 200, first.text
    assert first.json()["data"] | {"actions": []} == {
        "received": 1, "opened": 1, "duplicates": 0, "resolved": 0, "unbound": 0, "actions": []
    }  # fmt: skip
    for _ in range(3):  # Alertmanager's repeats
        again = await s.client.post(
            url, json=payload("firing", starts_at=starts), headers=s.auth("operator")
        )
        assert again.json()["data"]["duplicates"] == 1
    assert [a["status"] for a in await actions(s)] == ["executed"]
    [alert] = await am_alerts(s)
    assert alert["status"] == "active" and alert["severity"] == "medium"
    assert alert["labels"]["alertname"] == "HighLatency"

    done = await s.client.post(
        url, json=payload("resolved", starts_at=starts), headers=s.auth("operator")
    )
    assert done.json()["data"]["resolved"] == 1
    # a firing re-sent after the resolve (same startsAt) does not reopen it
    late = await s.client.post(
        url, json=payload("firing", starts_at=starts), headers=s.auth("operator")
    )
    assert late.json()["data"]["duplicates"] == 1
    assert [a["status"] for a in await am_alerts(s)] == ["resolved"]
    rows = await actions(s)
    assert [r["status"] for r in rows] == ["executed", "executed"]  # the action, its revert
    assert rows[1]["parameters"] == {"revertOf": rows[0]["id"]}

    other = payload("firing", starts_at=starts, fingerprint="ffff")
    other["alerts"][0]["labels"]["alertname"] = "DiskFull"
    unbound = await s.client.post(url, json=other, headers=s.auth("operator"))
    assert unbound.json()["data"]["unbound"] == 1

    v3 = payload("firing", starts_at=starts) | {"version": "3"}
    bad = await s.client.post(url, json=v3, headers=s.auth("operator"))
    assert bad.status_code == 422 and "version" in bad.text
    viewer = await s.client.post(
        url, json=payload("firing", starts_at=starts), headers=s.auth("viewer")
    )
    assert viewer.status_code == 403
    anonymous = await s.client.post(url, json=payload("firing", starts_at=starts))
    assert anonymous.status_code == 401


def _webhook_config(perfpilot: str, token: str) -> str:
    return f"""\
route:
  receiver: perfpilot
  group_by: [alertname, service]
  group_wait: 0s
  group_interval: 1s
  repeat_interval: 1s
receivers:
  - name: perfpilot
    webhook_configs:
      - url: {perfpilot}/v1/ai-performance-optimization/alertmanager/webhook
        send_resolved: true
        http_config:
          authorization:
            type: Bearer
            credentials: {token}
"""


async def _webhook_notifications(am: AlertmanagerProcess, *, failed: bool = False) -> float:
    """Alertmanager's own count of the webhook notifications it sent (or that failed)."""
    async with httpx.AsyncClient(timeout=5) as client:
        text = (await client.get(f"{am.url}/metrics")).text
    name = "notifications_failed_total" if failed else "notifications_total"
    found = re.search(rf'^alertmanager_{name}\{{integration="webhook"\}} (\S+)$', text, re.M)
    return float(found.group(1)) if found else 0.0


@pytest.mark.settings(impact_settle_seconds=SETTLE, impact_window_seconds=WINDOW)
async def test_real_alertmanager_triggers_bound_action_once_and_impact_is_measured(
    live_server: LiveServer, tmp_path: Path
) -> None:
    reason = missing_program(ALERTMANAGER, package="prometheus-alertmanager")
    if reason is not None:
        from tests.external import require_external

        require_external(reason, what="Alertmanager tests")
    s = live_server
    await bind(s)
    t0 = datetime.now(UTC)
    await s.push(*[latency(900 + i, t0 - timedelta(seconds=20 - 2 * i)) for i in range(10)])

    token = s.token("operator", "alertmanager")
    am = AlertmanagerProcess(tmp_path / "am", config=_webhook_config(s.base_url, token))
    try:
        await am.start()
        async with httpx.AsyncClient(timeout=5) as client:  # as Prometheus posts it
            posted = await client.post(
                f"{am.url}/api/v2/alerts",
                json=[
                    {
                        "labels": AM_LABELS,
                        "annotations": {"summary": "p95 above 2s"},
                        "startsAt": t0.isoformat(),
                    }
                ],
            )
            assert posted.status_code == 200, posted.text

        [action] = await eventually(lambda: actions(s))
        assert action["status"] == "executed" and action["type"] == "fallback"
        # Alertmanager keeps notifying (repeat_interval 1s): still one action
        await eventually(lambda: _more_than(am, 3))
        assert await _webhook_notifications(am, failed=True) == 0  # each one reached us
        assert [a["status"] for a in await actions(s)] == ["executed"]
        [alert] = await am_alerts(s)
        assert alert["severity"] == "critical" and alert["status"] == "active"
        assert action["alertId"] == alert["id"]

        # impact: the latency after the action, over its measurement window
        executed = datetime.fromisoformat(action["executedAt"])
        after = [300.0, 320.0, 280.0, 310.0]
        await s.push(
            *[
                latency(v, executed + timedelta(seconds=SETTLE + 0.5 + 0.6 * i))
                for i, v in enumerate(after)
            ],
            latency(305.0, executed + timedelta(seconds=SETTLE + WINDOW + 0.5)),
        )
        s.runner.tick_now()
        await s.settle()
        [measured] = await actions(s)
        baseline = sum(900 + i for i in range(10)) / 10
        assert measured["baseline"] == pytest.approx(baseline)
        assert measured["measuredValue"] == pytest.approx(sum(after) / len(after))
        assert measured["measuredImpact"] == pytest.approx((baseline - sum(after) / 4) / baseline)
        assert measured["outcome"] == "improved"

        # resolved in Alertmanager: the alert closes here and the fallback is reverted
        async with httpx.AsyncClient(timeout=5) as client:
            ended = await client.post(
                f"{am.url}/api/v2/alerts",
                json=[
                    {
                        "labels": AM_LABELS,
                        "startsAt": t0.isoformat(),
                        "endsAt": datetime.now(UTC).isoformat(),
                    }
                ],
            )
            assert ended.status_code == 200
        await eventually(lambda: _resolved(s))
        rows = await eventually(lambda: _two(s))
        assert rows[1]["parameters"] == {"revertOf": rows[0]["id"]}
        state = (await s.client.get(s.api(f"/services/{SERVICE}"), headers=s.auth())).json()
        assert state["data"]["state"]["fallbackActive"] is False
    finally:
        am.stop()


async def _more_than(am: AlertmanagerProcess, count: int) -> bool:
    return await _webhook_notifications(am) > count


async def _resolved(s: LiveServer) -> bool:
    return [a["status"] for a in await am_alerts(s)] == ["resolved"]


async def _two(s: LiveServer) -> list[dict[str, Any]] | None:
    rows = await actions(s)
    return rows if len(rows) == 2 else None


async def test_silenced_received_alert_runs_its_action_when_the_silence_ends(
    live_server: LiveServer,
) -> None:
    s = live_server
    await bind(s)
    made = await s.client.post(
        s.api("/silences"),
        json={
            "matchers": [{"label": "alertname", "op": "=", "value": "HighLatency"}],
            "endsAt": (datetime.now(UTC) + timedelta(hours=1)).isoformat(),
            "comment": "maintenance",
        },
        headers=s.auth("operator"),
    )
    assert made.status_code == 201, made.text
    starts = (datetime.now(UTC) - timedelta(seconds=5)).isoformat()
    url = s.api("/alertmanager/webhook")
    got = await s.client.post(
        url, json=payload("firing", starts_at=starts), headers=s.auth("operator")
    )
    assert got.json()["data"]["opened"] == 1 and got.json()["data"]["actions"] == []
    [alert] = await am_alerts(s)
    assert alert["silencedBy"] == [made.json()["data"]["id"]]
    s.runner.tick_now()
    await s.settle()
    assert await actions(s) == []

    gone = await s.client.delete(
        s.api(f"/silences/{made.json()['data']['id']}"), headers=s.auth("operator")
    )
    assert gone.status_code == 200
    s.runner.tick_now()
    await s.settle()
    [action] = await actions(s)
    assert action["status"] == "executed" and action["alertId"] == alert["id"]
    [alert] = await am_alerts(s)
    assert alert["silencedBy"] == []
