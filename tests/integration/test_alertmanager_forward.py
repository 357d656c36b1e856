"""Forwarding to the real Alertmanager (Debian's prometheus-alertmanager), two of them as an
HA pair without gossip: a Perfpilot alert appears in each one's /api/v2/alerts with its
labels, stays there through re-sends while open, ends on resolve; an Alertmanager that is
down when the alert fires gets it once it is up."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

from tests.alertmanager_process import ALERTMANAGER, AlertmanagerProcess
from tests.conftest import LiveServer, _empty_tables, make_settings, start_server
from tests.external import free_port, missing_program, require_external

require_external(
    missing_program(ALERTMANAGER, package="prometheus-alertmanager"), what="Alertmanager tests"
)

SERVICE = "chat-service"
# a firing alert is posted with endsAt 4 re-sends ahead: it expires 8 s after the last post
RESEND = 2.0


@asynccontextmanager
async def perfpilot(
    database_url: str, data_dir: Path, urls: list[str]
) -> AsyncIterator[LiveServer]:
    settings = make_settings(
        database_url,
        data_dir,
        alertmanager_urls=urls,
        alertmanager_resend_seconds=RESEND,
        alertmanager_poll_seconds=0.2,
        external_url="http://perfpilot.test:8000",
    )
    server, task, (app, port) = await start_server(settings)
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=30) as client:
            yield LiveServer(base_url=str(client.base_url), ctx=app.state.ctx, client=client)
    finally:
        server.should_exit = True
        await task
        await _empty_tables(database_url)


async def eventually(check: Callable[[], Awaitable[Any]], timeout: float = 20.0) -> Any:
    async with asyncio.timeout(timeout):
        while True:
            result = await check()
            if result:
                return result
            await asyncio.sleep(0.1)


def latency(value: float, *, model: str = "gpt-4") -> dict[str, Any]:
    return {
        "serviceName": SERVICE,
        "metricType": "latency",
        "value": value,
        "labels": {"model": model},
        "timestamp": (datetime.now(UTC) - timedelta(seconds=1)).isoformat(),
    }


async def slow_rule(s: LiveServer) -> str:
    response = await s.client.post(
        s.api("/rules"),
        json={
            "name": "SlowReplies",
            "condition": {
                "metric": "latency",
                "operator": "gt",
                "threshold": 500,
                "groupBy": ["model"],
            },
            "action": {"type": "cache_clear", "priority": "high"},
        },
        headers=s.auth(),
    )
    assert response.status_code == 201, response.text
    return str(response.json()["data"]["id"])


def of_alert(alerts: list[dict[str, Any]], alert_id: str) -> dict[str, Any] | None:
    return next((a for a in alerts if a["labels"].get("perfpilot_alert_id") == alert_id), None)


async def test_alert_reaches_each_alertmanager_stays_while_open_and_ends_on_resolve(
    clean_database: str, tmp_path: Path
) -> None:
    pair = [AlertmanagerProcess(tmp_path / "am1"), AlertmanagerProcess(tmp_path / "am2")]
    try:
        for am in pair:
            await am.start()
        async with perfpilot(clean_database, tmp_path / "pp", [am.url for am in pair]) as s:
            rule_id = await slow_rule(s)
            await s.push(latency(900))
            [alert] = (await s.client.get(s.api("/alerts"), headers=s.auth())).json()["data"]
            alert_id = alert["id"]
            for am in pair:
                got = await eventually(lambda am=am: _find(am, alert_id))
                assert got["labels"] == {
                    "alertname": "SlowReplies",
                    "service": SERVICE,
                    "severity": "high",
                    "metric": "latency",
                    "rule_id": rule_id,
                    "perfpilot_alert_id": alert_id,
                    "model": "gpt-4",
                }
                assert got["annotations"]["value"] == "900"
                assert got["annotations"]["threshold"] == "500"
                assert "SlowReplies on chat-service" in got["annotations"]["summary"]
                assert got["generatorURL"] == (
                    f"http://perfpilot.test:8000/v1/ai-performance-optimization/alerts/{alert_id}"
                )
                assert got["status"]["state"] == "active"
            first = await _find(pair[0], alert_id)
            assert first is not None

            # re-sent while open: Alertmanager sees a newer update, the alert stays active
            async def resent() -> bool:
                now = await _find(pair[0], alert_id)
                return now is not None and now["updatedAt"] > first["updatedAt"]

            await eventually(resent)
            await asyncio.sleep(4 * RESEND + 1)  # past the expiry of any single post
            for am in pair:
                still = await _find(am, alert_id)
                assert still is not None and still["status"]["state"] == "active"

            await s.push(latency(100))  # recovers: the alert resolves
            resolved = (await s.client.get(s.api(f"/alerts/{alert_id}"), headers=s.auth())).json()
            assert resolved["data"]["status"] == "resolved"
            # gone well before a firing post could expire: the end itself was delivered
            for am in pair:
                await eventually(lambda am=am: _gone(am, alert_id), timeout=2 * RESEND)

            # an alert received from Alertmanager is never sent back to it (it would loop)
            await _receive_one(s)
            sender = s.ctx.loops["alertmanager"]
            assert await sender.send_due(pair[0].url) == 0
            assert await pair[0].alerts() == []
    finally:
        for am in pair:
            am.stop()


async def test_alertmanager_down_then_up_gets_the_alert(
    clean_database: str, tmp_path: Path
) -> None:
    am = AlertmanagerProcess(tmp_path / "am", port=free_port())  # not started yet: down
    try:
        async with perfpilot(clean_database, tmp_path / "pp", [am.url]) as s:
            await slow_rule(s)
            await s.push(latency(900))
            [alert] = (await s.client.get(s.api("/alerts"), headers=s.auth())).json()["data"]
            sender = s.ctx.loops["alertmanager"]
            await eventually(lambda: _async(sender.last_error.get(am.url)))  # tried, refused
            await am.start()
            got = await eventually(lambda: _find(am, alert["id"]), timeout=60)
            assert got["labels"]["alertname"] == "SlowReplies"
    finally:
        am.stop()


async def _async(value: Any) -> Any:
    return value


async def _find(am: AlertmanagerProcess, alert_id: str) -> dict[str, Any] | None:
    return of_alert(await am.alerts(), alert_id)


async def _gone(am: AlertmanagerProcess, alert_id: str) -> bool:
    return of_alert(await am.alerts(), alert_id) is None


async def _receive_one(s: LiveServer) -> None:
    bound = await s.client.post(
        s.api("/alertmanager/bindings"),
        json={
            "name": "external",
            "matchers": [{"label": "alertname", "op": "=", "value": "External"}],
            "action": {"type": "cache_clear"},
        },
        headers=s.auth(),
    )
    assert bound.status_code == 201, bound.text
    alert = {
        "status": "firing",
        "labels": {"alertname": "External", "service": SERVICE},
        "annotations": {},
        "startsAt": datetime.now(UTC).isoformat(),
        "fingerprint": "00aa11bb22cc33dd",
    }
    body = {"version": "4", "status": "firing", "alerts": [alert]}
    got = await s.client.post(s.api("/alertmanager/webhook"), json=body, headers=s.auth("operator"))
    assert got.status_code == 200 and got.json()["data"]["opened"] == 1, got.text
