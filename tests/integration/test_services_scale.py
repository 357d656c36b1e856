"""GET /services and GET /realtime with 20,000 services (issue 9, item 4): every service is
listed once, in name order, across pages, with its own values, and the server keeps answering
/healthz while the lists are read.

Liveness is checked from a thread of its own (its own connection and clock): the test's client
shares the event loop with the in-process server, so it could not notice a blocked loop.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from sqlalchemy import insert

from perfpilot.models import ServiceState
from tests.conftest import LiveServer
from tests.envelope import assert_error
from tests.integration.seed_rows import add_rows, alert

SERVICES = 20_000
BATCH = 10_000
# the defect this guards against froze the loop for the whole listing (132 s for 20,000
# services); a busy 2-core machine answers well within this, full collections included
LIVENESS_TIMEOUT_S = 20.0


def service(i: int) -> str:
    return f"svc-{i:05d}"


class HealthzProbe:
    """Polls /healthz back to back from its own thread until stopped."""

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url
        self.answers: list[int] = []
        self.failures: list[str] = []
        self.slowest_s = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        with httpx.Client(base_url=self.base_url, timeout=LIVENESS_TIMEOUT_S) as client:
            while not self._stop.is_set():
                started = time.monotonic()
                try:
                    self.answers.append(client.get("/healthz").status_code)
                except httpx.HTTPError as exc:
                    self.failures.append(repr(exc))
                self.slowest_s = max(self.slowest_s, time.monotonic() - started)
                self._stop.wait(0.01)

    @contextmanager
    def running(self) -> Iterator[HealthzProbe]:
        self._thread.start()
        try:
            yield self
        finally:
            self._stop.set()
            self._thread.join(LIVENESS_TIMEOUT_S * 2)


async def seed(s: LiveServer) -> datetime:
    """20,000 services with a fresh latency sample (through the API, so the ingest path and
    its latest-value table see them), one in 100 with a stale cpu sample too, one in four with
    a desired state; 50 services with only a state; a few open and resolved alerts."""
    now = datetime.now(UTC)
    fresh = (now - timedelta(seconds=10)).isoformat()
    stale = (now - timedelta(seconds=400)).isoformat()
    samples: list[dict[str, Any]] = [
        {"serviceName": service(i), "metricType": "latency", "value": i, "timestamp": fresh}
        for i in range(SERVICES)
    ]
    samples += [
        {"serviceName": service(i), "metricType": "cpu", "value": 50, "timestamp": stale}
        for i in range(0, SERVICES, 100)
    ]
    for start in range(0, len(samples), BATCH):
        response = await s.client.post(
            s.api("/metrics/batch"),
            json={"samples": samples[start : start + BATCH]},
            headers=s.auth("operator"),
            timeout=120,
        )
        assert response.status_code == 201, response.text
    states = [{"service_name": service(i), "instances": 1 + i % 5} for i in range(0, SERVICES, 4)]
    states += [{"service_name": f"state-only-{i:02d}", "instances": 2} for i in range(50)]
    async with s.ctx.sessionmaker() as session, session.begin():
        await session.execute(insert(ServiceState), states)
    await add_rows(
        s,
        alert(service(7), at=now, severity="high"),
        alert(service(11), at=now, severity="low"),
        alert(service(11), at=now, severity="medium", status="acknowledged"),
        alert(service(13), at=now, severity="critical", resolved_after=1),
        alert("alert-only", at=now, severity="medium"),
    )
    return now


async def walk(s: LiveServer, path: str, limit: int) -> list[dict[str, Any]]:
    """Every item of a paged list, checking each page's envelope on the way."""
    items: list[dict[str, Any]] = []
    cursor: str | None = None
    while True:
        params: dict[str, Any] = {"limit": limit} | ({"cursor": cursor} if cursor else {})
        response = await s.client.get(
            s.api(path), params=params, headers=s.auth("viewer"), timeout=120
        )
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["success"] is True
        assert body["count"] == len(body["data"]) <= limit
        items += body["data"]
        cursor = body["nextCursor"]
        if cursor is None:
            return items
        assert body["count"] == limit  # only the last page is short


async def test_twenty_thousand_services_list_in_pages_while_healthz_answers(
    live_server: LiveServer,
) -> None:
    s = live_server
    await seed(s)
    sampled = [service(i) for i in range(SERVICES)]
    state_only = [f"state-only-{i:02d}" for i in range(50)]

    with HealthzProbe(s.base_url).running() as probe:
        listed = await walk(s, "/services", 1000)
        live = await walk(s, "/realtime", 1000)
        first = await s.client.get(s.api("/services"), headers=s.auth("viewer"), timeout=120)
    assert probe.failures == [], (probe.failures[:3], f"slowest answer {probe.slowest_s:.2f} s")
    assert probe.answers and set(probe.answers) == {200}

    # /services: every service with samples or a state, once, in name order
    names = [item["serviceName"] for item in listed]
    assert names == sorted(sampled + state_only)
    by_name = {item["serviceName"]: item for item in listed}
    four = by_name[service(4)]
    assert (four["instances"], four["openAlerts"], four["status"]) == (5, 0, "healthy")
    assert four["latest"]["latency"]["value"] == 4.0
    assert (four["latest"]["latency"]["unit"], four["latest"]["latency"]["fresh"]) == ("ms", True)
    assert (by_name[service(7)]["status"], by_name[service(7)]["openAlerts"]) == ("critical", 1)
    assert by_name[service(7)]["instances"] is None
    assert (by_name[service(11)]["status"], by_name[service(11)]["openAlerts"]) == ("degraded", 2)
    assert by_name[service(13)]["status"] == "healthy"  # its alert is resolved
    hundred = by_name[service(100)]["latest"]
    assert set(hundred) == {"latency", "cpu"} and hundred["cpu"]["fresh"] is False
    assert by_name["state-only-07"]["latest"] == {}
    assert by_name["state-only-07"]["status"] == "unknown"
    assert by_name[service(SERVICES - 1)]["latest"]["latency"]["value"] == SERVICES - 1

    # the default page: the first 100 names, and a cursor to the rest
    body = first.json()
    assert [i["serviceName"] for i in body["data"]] == names[:100]
    assert body["count"] == 100 and body["nextCursor"]

    # /realtime: the same services plus the one known only by its open alert
    views = {v["serviceName"]: v for v in live}
    assert [v["serviceName"] for v in live] == sorted(sampled + state_only + ["alert-only"])
    assert views[service(4)]["metrics"]["latency"] == 4.0
    assert views[service(7)]["status"] == "critical"
    assert views[service(100)]["metrics"]["cpu"] is None  # older than 300 s
    assert views[service(100)]["lastSampleAt"] is not None
    assert (views["alert-only"]["status"], views["alert-only"]["openAlerts"]) == ("degraded", 1)
    assert views["alert-only"]["lastSampleAt"] is None
    assert views["state-only-00"]["status"] == "unknown"


async def test_paging_parameters_are_checked(live_server: LiveServer) -> None:
    s = live_server
    await s.push(
        *[
            {"serviceName": f"p-{i}", "metricType": "cpu", "value": i}
            for i in range(5)  # p-0 .. p-4
        ]
    )
    for path in ("/services", "/realtime"):
        page = (await s.client.get(s.api(path), params={"limit": 2}, headers=s.auth())).json()
        assert [i["serviceName"] for i in page["data"]] == ["p-0", "p-1"]
        rest = await s.client.get(
            s.api(path), params={"limit": 3, "cursor": page["nextCursor"]}, headers=s.auth()
        )
        assert [i["serviceName"] for i in rest.json()["data"]] == ["p-2", "p-3", "p-4"]
        assert rest.json()["nextCursor"] is None
        for params, field in (
            ({"cursor": "not-a-cursor"}, "cursor"),
            ({"cursor": page["nextCursor"][:-2] + "!!"}, "cursor"),
            ({"limit": 0}, "limit"),
            ({"limit": 1001}, "limit"),
        ):
            response = await s.client.get(s.api(path), params=params, headers=s.auth())
            error = assert_error(response, 422, "validation_error")
            assert field in {d["field"].split(".")[-1] for d in error["details"]}, error
