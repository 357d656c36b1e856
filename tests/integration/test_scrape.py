"""Scraping: a real prometheus_client exposition with vLLM's names and types, served over HTTP
on loopback, scraped by the running app; targets that hang or lie do not hold up the others."""

from __future__ import annotations

import asyncio
import socket
import uuid
from collections.abc import Iterator
from datetime import datetime
from typing import Any

import pytest
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, start_http_server

from perfpilot.collection.scheduler import ScrapeScheduler
from tests.conftest import LiveServer

MODEL = "meta-llama/Llama-3.1-8B-Instruct"
E2E_BUCKETS = (0.3, 0.5, 0.8, 1.0, 1.5, 2.0, 2.5, 5.0, 10.0)


class FakeVllm:
    """vLLM's Prometheus metrics as its v1 engine declares them (names, types, labels)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        labels = ["model_name", "engine"]
        self.success = Counter(
            "vllm:request_success",
            "Finished requests",
            [*labels, "finished_reason"],
            registry=self.registry,
        )
        self.generation = Counter(
            "vllm:generation_tokens", "Generated tokens", labels, registry=self.registry
        )
        self.waiting = Gauge("vllm:num_requests_waiting", "Waiting", labels, registry=self.registry)
        self.running = Gauge("vllm:num_requests_running", "Running", labels, registry=self.registry)
        self.kv = Gauge("vllm:kv_cache_usage_perc", "KV cache", labels, registry=self.registry)
        self.e2e = Histogram(
            "vllm:e2e_request_latency_seconds",
            "E2E",
            labels,
            buckets=E2E_BUCKETS,
            registry=self.registry,
        )
        self.cache_info = Gauge(
            "vllm:cache_config_info", "config", ["block_size"], registry=self.registry
        )
        self.cache_info.labels("16").set(1)
        self.server, self.thread = start_http_server(0, addr="127.0.0.1", registry=self.registry)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_port}/metrics"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def vllm() -> Iterator[FakeVllm]:
    fake = FakeVllm()
    yield fake
    fake.close()


def scheduler(live_server: LiveServer) -> ScrapeScheduler:
    scraper = live_server.ctx.loops["scraper"]
    assert isinstance(scraper, ScrapeScheduler)
    return scraper


async def add_target(live_server: LiveServer, **body: Any) -> dict[str, Any]:
    response = await live_server.client.post(
        live_server.api("/targets"), json=body, headers=live_server.auth("admin")
    )
    assert response.status_code == 201, response.text
    data: dict[str, Any] = response.json()["data"]
    return data


async def samples(live_server: LiveServer, service: str, metric_type: str) -> list[dict[str, Any]]:
    response = await live_server.client.get(
        live_server.api("/metrics"),
        params={"serviceName": service, "metricType": metric_type, "limit": 1000},
        headers=live_server.auth("viewer"),
    )
    assert response.status_code == 200, response.text
    return list(reversed(response.json()["data"]))  # oldest first


def ts(sample: dict[str, Any]) -> float:
    return datetime.fromisoformat(sample["timestamp"]).timestamp()


async def test_vllm_exposition_scraped_twice_gives_rates_and_gauges(
    live_server: LiveServer, vllm: FakeVllm
) -> None:
    labels = (MODEL, "0")
    vllm.success.labels(*labels, "stop").inc(100)
    vllm.generation.labels(*labels).inc(5_000)
    vllm.waiting.labels(*labels).set(3)
    vllm.running.labels(*labels).set(7)
    vllm.kv.labels(*labels).set(0.42)
    # long interval: the test scrapes when it chooses (scrape_now), the timer never fires
    target = await add_target(
        live_server,
        url=vllm.url,
        serviceName="vllm-a",
        preset="vllm",
        interval=3600,
        labels={"region": "eu"},
        headers={"Authorization": "Bearer scrape-secret"},
    )
    assert target["headerNames"] == ["Authorization"]
    assert "scrape-secret" not in str(target)
    target_id = uuid.UUID(target["id"])
    first = await scheduler(live_server).scrape_now(target_id)
    assert first.up is True, first.last_error

    vllm.success.labels(*labels, "stop").inc(60)
    vllm.generation.labels(*labels).inc(1_200)
    vllm.waiting.labels(*labels).set(5)
    second = await scheduler(live_server).scrape_now(target_id)
    assert second.up is True, second.last_error
    await live_server.settle()

    waiting = await samples(live_server, "vllm-a", "queue_depth")
    assert [s["value"] for s in waiting] == [3.0, 5.0]
    interval = ts(waiting[1]) - ts(waiting[0])
    throughput = await samples(live_server, "vllm-a", "throughput")
    assert [s["value"] for s in throughput] == [pytest.approx(60 / interval, rel=1e-9)]
    assert ts(throughput[0]) == ts(waiting[1])
    assert throughput[0]["labels"] == {
        "model": MODEL,
        "engine": "0",
        "finished_reason": "stop",
        "region": "eu",
    }

    tokens = await samples(live_server, "vllm-a", "tokens_per_second")
    assert [s["value"] for s in tokens] == [pytest.approx(1_200 / interval, rel=1e-9)]
    kv = await samples(live_server, "vllm-a", "kv_cache_usage")
    assert [s["value"] for s in kv] == [0.42, 0.42]
    assert [s["value"] for s in await samples(live_server, "vllm-a", "requests_running")] == [
        7.0,
        7.0,
    ]

    listed = await live_server.client.get(
        live_server.api(f"/targets/{target_id}"), headers=live_server.auth("viewer")
    )
    health = listed.json()["data"]["health"]
    assert health["up"] is True
    assert health["series"] > 0
    assert health["lastScrapeAt"] is not None
    assert "scrape-secret" not in listed.text
    exposition = await live_server.client.get("/metrics", headers=live_server.auth("viewer"))
    assert f'perfpilot_scrape_up{{service="vllm-a",target="{target_id}"}} 1.0' in exposition.text

    unmapped = await live_server.client.get(
        live_server.api("/collection/unmapped"), headers=live_server.auth("viewer")
    )
    names = {u["name"] for u in unmapped.json()["data"]}
    assert "vllm:cache_config_info" in names


def _hanging_server() -> tuple[socket.socket, list[socket.socket]]:
    """A TCP server that accepts and never answers."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    listener.setblocking(False)
    return listener, []


async def test_hanging_and_garbage_targets_do_not_stall_others(
    live_server: LiveServer, vllm: FakeVllm
) -> None:
    listener, _ = _hanging_server()
    garbage = CollectorRegistry()  # unused: the garbage target is a plain HTTP server below
    del garbage

    async def lie(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        body = b"<html><body>Welcome to nginx!</body></html>\n"
        writer.write(
            b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: "
            + str(len(body)).encode()
            + b"\r\n\r\n"
            + body
        )
        await writer.drain()
        writer.close()

    liar = await asyncio.start_server(lie, "127.0.0.1", 0)
    liar_port = liar.sockets[0].getsockname()[1]
    try:
        hanging = await add_target(
            live_server,
            url=f"http://127.0.0.1:{listener.getsockname()[1]}/metrics",
            serviceName="stuck",
            preset="vllm",
            interval=3600,
            timeout=3,
        )
        lying = await add_target(
            live_server,
            url=f"http://127.0.0.1:{liar_port}/metrics",
            serviceName="liar",
            preset="vllm",
            interval=3600,
        )
        good = await add_target(
            live_server, url=vllm.url, serviceName="vllm-b", preset="vllm", interval=3600
        )
        vllm.waiting.labels(MODEL, "0").set(2)
        scraper = scheduler(live_server)
        stuck = asyncio.create_task(scraper.scrape_now(uuid.UUID(hanging["id"])))
        await asyncio.sleep(0.2)  # the hanging scrape is connected and waiting
        lied = await scraper.scrape_now(uuid.UUID(lying["id"]))
        fine = await scraper.scrape_now(uuid.UUID(good["id"]))
        assert not stuck.done()  # both others finished while it still hangs
        assert fine.up is True, fine.last_error
        assert lied.up is False
        assert "not the Prometheus text format" in (lied.last_error or "")
        stuck_health = await stuck
        assert stuck_health.up is False
        assert stuck_health.last_error == "timed out"
        await live_server.settle()
        assert await samples(live_server, "liar", "queue_depth") == []
        assert [s["value"] for s in await samples(live_server, "vllm-b", "queue_depth")] == [2.0]
        listed = await live_server.client.get(
            live_server.api("/targets"), headers=live_server.auth("viewer")
        )
        by_service = {t["serviceName"]: t["health"] for t in listed.json()["data"]}
        assert by_service["liar"]["up"] is False
        assert by_service["stuck"]["lastError"] == "timed out"
    finally:
        liar.close()
        await liar.wait_closed()
        listener.close()


async def test_the_loop_scrapes_on_its_own(live_server: LiveServer, vllm: FakeVllm) -> None:
    vllm.running.labels(MODEL, "0").set(4)
    target = await add_target(
        live_server, url=vllm.url, serviceName="vllm-loop", preset="vllm", interval=5, timeout=2
    )
    for _ in range(150):  # the first scrape comes within one interval (jittered start)
        response = await live_server.client.get(
            live_server.api(f"/targets/{target['id']}"), headers=live_server.auth("viewer")
        )
        if response.json()["data"]["health"]["up"] is not None:
            break
        await asyncio.sleep(0.1)
    assert response.json()["data"]["health"]["up"] is True
    await live_server.settle()
    assert [s["value"] for s in await samples(live_server, "vllm-loop", "requests_running")] == [
        4.0
    ]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"url": "http://169.254.169.254/metrics", "serviceName": "x", "preset": "vllm"}, "url"),
        ({"url": "ftp://host/metrics", "serviceName": "x", "preset": "vllm"}, "url"),
        (
            {"url": "http://h/metrics", "serviceName": "x", "preset": "vllm", "interval": 1},
            "interval",
        ),
        ({"url": "http://h/metrics", "serviceName": "x", "preset": "prometheus"}, ""),
        (
            {
                "url": "http://h/metrics",
                "serviceName": "x",
                "preset": "vllm",
                "labels": {"bad key": "v"},
            },
            "labels",
        ),
        (
            {
                "url": "http://h/metrics",
                "serviceName": "x",
                "preset": "prometheus",
                "mapping": {"m": {"type": "no_such_type", "kind": "gauge"}},
            },
            "mapping.m.type",
        ),
    ],
)
async def test_invalid_targets_are_422_naming_the_field(
    live_server: LiveServer, body: dict[str, Any], field: str
) -> None:
    response = await live_server.client.post(
        live_server.api("/targets"), json=body, headers=live_server.auth("admin")
    )
    assert response.status_code == 422, response.text
    fields = [d["field"] for d in response.json()["error"]["details"]]
    assert any(f.startswith(field) for f in fields), fields


async def test_targets_need_admin_to_write(live_server: LiveServer) -> None:
    body = {"url": "http://10.0.0.5:8000/metrics", "serviceName": "x", "preset": "vllm"}
    response = await live_server.client.post(
        live_server.api("/targets"), json=body, headers=live_server.auth("operator")
    )
    assert response.status_code == 403


async def test_partial_update_keeps_headers_and_checks_the_whole(live_server: LiveServer) -> None:
    target = await add_target(
        live_server,
        url="http://10.0.0.5:8000/metrics",
        serviceName="x",
        preset="vllm",
        headers={"Authorization": "Bearer s"},
    )
    url = live_server.api(f"/targets/{target['id']}")
    response = await live_server.client.put(
        url, json={"interval": 60}, headers=live_server.auth("admin")
    )
    assert response.status_code == 200, response.text
    data = response.json()["data"]
    assert (data["interval"], data["timeout"], data["headerNames"]) == (60, 10, ["Authorization"])
    response = await live_server.client.put(
        url, json={"timeout": 90}, headers=live_server.auth("admin")
    )
    assert response.status_code == 422  # over the kept interval
    response = await live_server.client.delete(url, headers=live_server.auth("admin"))
    assert response.status_code == 200
    response = await live_server.client.get(url, headers=live_server.auth("viewer"))
    assert response.status_code == 404


async def test_vllm_histogram_scraped_twice_gives_the_interval_percentiles(
    live_server: LiveServer, vllm: FakeVllm
) -> None:
    labels = (MODEL, "0")
    vllm.e2e.labels(*labels).observe(0.2)  # before the first scrape: not in the interval
    rule = {
        "name": "Slow requests",
        "condition": {
            "metric": "latency",
            "operator": "gt",
            "threshold": 1,
            "aggregation": "p95",
            "window": 600,
        },
        "action": {"type": "cache_clear"},
    }
    created = await live_server.client.post(
        live_server.api("/rules"), json=rule, headers=live_server.auth()
    )
    assert created.status_code == 201, created.text
    target = await add_target(
        live_server, url=vllm.url, serviceName="vllm-h", preset="vllm", interval=3600
    )
    target_id = uuid.UUID(target["id"])
    assert (await scheduler(live_server).scrape_now(target_id)).up
    for _ in range(10):
        vllm.e2e.labels(*labels).observe(0.9)  # bucket (0.8, 1.0]
        vllm.e2e.labels(*labels).observe(1.2)  # bucket (1.0, 1.5]
    assert (await scheduler(live_server).scrape_now(target_id)).up
    await live_server.settle()
    [sample] = await samples(live_server, "vllm-h", "latency")
    histogram = sample["histogram"]
    assert histogram["bounds"] == [b * 1000 for b in E2E_BUCKETS]
    assert histogram["count"] == 20
    assert histogram["sum"] == pytest.approx(21_000)
    assert histogram["counts"][E2E_BUCKETS.index(1.0)] == 10
    assert histogram["counts"][E2E_BUCKETS.index(1.5)] == 10
    response = await live_server.client.get(
        live_server.api("/alerts"), headers=live_server.auth("viewer")
    )
    [alert] = response.json()["data"]
    # p95 = rank 19 of 20: the 9th of 10 in (1000, 1500] ms, interpolated linearly
    assert alert["currentValue"] == pytest.approx(1000 + 500 * 9 / 10)


async def test_a_50_mb_body_is_abandoned_at_the_cap(live_server: LiveServer) -> None:
    line = b'vllm:num_requests_waiting{model_name="m"} 1\n' * 1000

    async def flood(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\n")  # no length
        try:
            for _ in range(50_000_000 // len(line)):
                writer.write(line)
                await writer.drain()
        except (ConnectionError, OSError):
            pass  # the scraper hung up: what this test expects
        finally:
            writer.close()

    server = await asyncio.start_server(flood, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        target = await add_target(
            live_server,
            url=f"http://127.0.0.1:{port}/metrics",
            serviceName="flood",
            preset="vllm",
            interval=3600,
        )
        health = await scheduler(live_server).scrape_now(uuid.UUID(target["id"]))
        assert health.up is False
        assert health.last_error == "body over the 10000000 byte cap"
        await live_server.settle()
        assert await samples(live_server, "flood", "queue_depth") == []
    finally:
        server.close()
        await server.wait_closed()
