"""OTLP/HTTP receiver: the real OpenTelemetry SDK and its real OTLP/HTTP exporter send GenAI
metrics to the running app; bad exports get the OTLP answer or a clear error."""

from __future__ import annotations

import asyncio
import gzip
import time
from collections.abc import Iterator
from typing import Any

import pytest
from google.protobuf import json_format
from opentelemetry.exporter.otlp.proto.common.metrics_encoder import encode_metrics
from opentelemetry.exporter.otlp.proto.http import Compression
from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceRequest,
    ExportMetricsServiceResponse,
)
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import (
    InMemoryMetricReader,
    MetricReader,
    PeriodicExportingMetricReader,
)
from opentelemetry.sdk.resources import Resource

from tests.conftest import LiveServer

TTFT_BOUNDS = [0.05, 0.1, 0.25, 0.5, 1.0, 2.5]


class GenAiApp:
    """An instrumented LLM client, as the GenAI semantic conventions describe its metrics."""

    def __init__(self, reader: MetricReader, service: str) -> None:
        self.provider = MeterProvider(
            resource=Resource.create({"service.name": service}), metric_readers=[reader]
        )
        meter = self.provider.get_meter("genai-test")
        self.ttft = meter.create_histogram(
            "gen_ai.server.time_to_first_token",
            unit="s",
            explicit_bucket_boundaries_advisory=TTFT_BOUNDS,
        )
        self.tokens = meter.create_histogram("gen_ai.client.token.usage", unit="{token}")
        self.duration = meter.create_histogram("gen_ai.client.operation.duration", unit="s")
        self.other = meter.create_counter("http.client.request.count")

    def call(self, model: str, *, ttft: float, prompt: int, completion: int) -> None:
        attrs = {"gen_ai.request.model": model, "gen_ai.operation.name": "chat"}
        self.ttft.record(ttft, attrs)
        self.duration.record(ttft * 4, attrs)
        self.tokens.record(prompt, {**attrs, "gen_ai.token.type": "input"})
        self.tokens.record(completion, {**attrs, "gen_ai.token.type": "output"})
        self.other.add(1)


@pytest.fixture
def exporter_app(live_server: LiveServer) -> Iterator[GenAiApp]:
    exporter = OTLPMetricExporter(
        endpoint=f"{live_server.base_url}/v1/metrics",
        headers={"Authorization": f"Bearer {live_server.token('operator')}"},
        compression=Compression.Gzip,
    )
    # the test flushes when it chooses: the periodic export never comes by itself
    reader = PeriodicExportingMetricReader(exporter, export_interval_millis=3_600_000)
    app = GenAiApp(reader, "chat-api")
    yield app
    app.provider.shutdown(timeout_millis=1000)


async def samples(live_server: LiveServer, service: str, metric_type: str) -> list[dict[str, Any]]:
    response = await live_server.client.get(
        live_server.api("/metrics"),
        params={"serviceName": service, "metricType": metric_type, "limit": 1000},
        headers=live_server.auth("viewer"),
    )
    assert response.status_code == 200, response.text
    return list(reversed(response.json()["data"]))


async def test_sdk_exporter_protobuf_gzip_stores_token_sums_with_labels(
    live_server: LiveServer, exporter_app: GenAiApp
) -> None:
    exporter_app.call("gpt-4o", ttft=0.2, prompt=120, completion=30)
    exporter_app.call("gpt-4o", ttft=0.3, prompt=80, completion=20)
    exporter_app.call("llama-3", ttft=0.1, prompt=10, completion=5)
    # the exporter is synchronous (requests): run it off the loop the server runs on
    assert await asyncio.to_thread(exporter_app.provider.force_flush)
    await live_server.settle()
    inputs = await samples(live_server, "chat-api", "input_tokens")
    by_model = {s["labels"]["model"]: s["value"] for s in inputs}
    assert by_model == {"gpt-4o": 200.0, "llama-3": 10.0}
    assert all(s["labels"]["operation"] == "chat" for s in inputs)
    assert all("gen_ai_token_type" not in s["labels"] for s in inputs)
    outputs = await samples(live_server, "chat-api", "output_tokens")
    assert {s["labels"]["model"]: s["value"] for s in outputs} == {"gpt-4o": 50.0, "llama-3": 5.0}

    # the next export carries cumulative totals: stored are the increases since the last one
    exporter_app.call("gpt-4o", ttft=0.4, prompt=1000, completion=300)
    assert await asyncio.to_thread(exporter_app.provider.force_flush)
    await live_server.settle()
    inputs = await samples(live_server, "chat-api", "input_tokens")
    gpt = [s["value"] for s in inputs if s["labels"]["model"] == "gpt-4o"]
    assert gpt == [200.0, 1000.0]

    unmapped = await live_server.client.get(
        live_server.api("/collection/unmapped"), headers=live_server.auth("viewer")
    )
    assert {(u["name"], u["source"]) for u in unmapped.json()["data"]} >= {
        ("http.client.request.count", "otlp")
    }


def _sdk_request(service: str) -> ExportMetricsServiceRequest:
    """What the SDK's OTLP encoder makes of one collection (the exporter sends this)."""
    reader = InMemoryMetricReader()
    app = GenAiApp(reader, service)
    app.call("gpt-4o", ttft=0.2, prompt=100, completion=40)
    app.call("mistral", ttft=0.3, prompt=50, completion=10)
    data = reader.get_metrics_data()
    assert data is not None
    app.provider.shutdown()
    request = encode_metrics(data)
    assert isinstance(request, ExportMetricsServiceRequest)
    return request


async def test_otlp_json_encoding_is_accepted_and_answered_in_json(
    live_server: LiveServer,
) -> None:
    # The Python exporter only speaks protobuf: the SDK's own request, in the OTLP JSON mapping
    body = json_format.MessageToJson(_sdk_request("json-api"))
    response = await live_server.client.post(
        "/v1/metrics",
        content=body,
        headers={**live_server.auth("operator"), "Content-Type": "application/json"},
    )
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/json")
    answer = json_format.Parse(response.text, ExportMetricsServiceResponse())
    # the unmapped counter is set aside and named; the histograms are stored
    assert answer.partial_success.rejected_data_points == 1
    assert "http.client.request.count" in answer.partial_success.error_message
    await live_server.settle()
    outputs = await samples(live_server, "json-api", "output_tokens")
    assert {s["labels"]["model"]: s["value"] for s in outputs} == {"gpt-4o": 40.0, "mistral": 10.0}


async def test_protobuf_answer_counts_rejected_points(live_server: LiveServer) -> None:
    request = _sdk_request("proto-api")
    response = await live_server.client.post(
        "/v1/metrics",
        content=request.SerializeToString(),
        headers={**live_server.auth("operator"), "Content-Type": "application/x-protobuf"},
    )
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/x-protobuf"
    answer = ExportMetricsServiceResponse()
    answer.ParseFromString(response.content)
    assert answer.partial_success.rejected_data_points >= 1


@pytest.mark.parametrize(
    ("content_type", "body", "status", "code"),
    [
        ("application/x-protobuf", b"\xff\xff\xff\xff not protobuf", 400, "bad_request"),
        ("application/json", b'{"resourceMetrics": 5}', 400, "bad_request"),
        ("text/plain", b"hello", 415, "unsupported_media_type"),
    ],
)
async def test_malformed_exports_are_refused_with_a_reason(
    live_server: LiveServer, content_type: str, body: bytes, status: int, code: str
) -> None:
    response = await live_server.client.post(
        "/v1/metrics",
        content=body,
        headers={**live_server.auth("operator"), "Content-Type": content_type},
    )
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert error["code"] == code
    assert error["message"]


async def test_gzip_bomb_stops_at_the_body_cap(live_server: LiveServer) -> None:
    bomb = gzip.compress(b"\x00" * (64 * 1024 * 1024))  # 64 MiB of zeros in ~64 KiB
    assert len(bomb) < 1024 * 1024
    response = await live_server.client.post(
        "/v1/metrics",
        content=bomb,
        headers={
            **live_server.auth("operator"),
            "Content-Type": "application/x-protobuf",
            "Content-Encoding": "gzip",
        },
    )
    assert response.status_code == 413
    assert "Decompressed" in response.json()["error"]["message"]


async def test_export_needs_an_operator_token(live_server: LiveServer) -> None:
    headers = {"Content-Type": "application/x-protobuf"}
    response = await live_server.client.post("/v1/metrics", content=b"", headers=headers)
    assert response.status_code == 401
    response = await live_server.client.post(
        "/v1/metrics", content=b"", headers={**headers, **live_server.auth("viewer")}
    )
    assert response.status_code == 403


async def test_a_grouped_rule_fires_one_alert_per_model_on_otlp_samples(
    live_server: LiveServer, exporter_app: GenAiApp
) -> None:
    rule = {
        "name": "Token-hungry models",
        "condition": {
            "metric": "output_tokens",
            "operator": "gt",
            "threshold": 40,
            "aggregation": "sum",
            "window": 600,
            "groupBy": ["model"],
        },
        "action": {"type": "cache_clear", "priority": "high"},
    }
    created = await live_server.client.post(
        live_server.api("/rules"), json=rule, headers=live_server.auth()
    )
    assert created.status_code == 201, created.text
    exporter_app.call("gpt-4o", ttft=0.2, prompt=100, completion=45)
    exporter_app.call("claude-3", ttft=0.2, prompt=100, completion=60)
    exporter_app.call("llama-3", ttft=0.1, prompt=10, completion=5)
    assert await asyncio.to_thread(exporter_app.provider.force_flush)
    await live_server.settle()
    response = await live_server.client.get(
        live_server.api("/alerts"), headers=live_server.auth("viewer")
    )
    fired = response.json()["data"]
    assert sorted((a["labels"]["model"], a["currentValue"]) for a in fired) == [
        ("claude-3", 60.0),
        ("gpt-4o", 45.0),
    ]
    assert {a["serviceName"] for a in fired} == {"chat-api"}


def _gauge_export(points: dict[str, list[str]]) -> bytes:
    """service -> models: one vllm:num_requests_waiting point per model."""
    request = ExportMetricsServiceRequest()
    for service, models in points.items():
        resource = request.resource_metrics.add()
        resource.resource.attributes.add(key="service.name").value.string_value = service
        metric = resource.scope_metrics.add().metrics.add()
        metric.name = "vllm:num_requests_waiting"
        for model in models:
            point = metric.gauge.data_points.add()
            point.time_unix_nano = time.time_ns()
            point.as_double = 2.0
            point.attributes.add(key="model_name").value.string_value = model
    return request.SerializeToString()


@pytest.mark.settings(cardinality_limit=3)
async def test_a_service_past_its_cardinality_limit_is_refused_alone(
    live_server: LiveServer,
) -> None:
    body = _gauge_export({"busy": [f"m{i}" for i in range(5)], "calm": ["a", "b"]})
    response = await live_server.client.post(
        "/v1/metrics",
        content=body,
        headers={**live_server.auth("operator"), "Content-Type": "application/x-protobuf"},
    )
    assert response.status_code == 200
    answer = ExportMetricsServiceResponse.FromString(response.content)
    assert answer.partial_success.rejected_data_points == 5
    assert "cardinality limit" in answer.partial_success.error_message
    await live_server.settle()
    assert len(await samples(live_server, "calm", "queue_depth")) == 2
    assert await samples(live_server, "busy", "queue_depth") == []


async def test_a_ttft_p95_rule_grouped_by_model_fires_one_alert_per_model(
    live_server: LiveServer, exporter_app: GenAiApp
) -> None:
    rule = {
        "name": "Slow first token",
        "condition": {
            "metric": "ttft",
            "operator": "gt",
            "threshold": 300,
            "aggregation": "p95",
            "window": 600,
            "groupBy": ["model"],
        },
        "action": {"type": "cache_clear", "priority": "high"},
    }
    created = await live_server.client.post(
        live_server.api("/rules"), json=rule, headers=live_server.auth()
    )
    assert created.status_code == 201, created.text
    for _ in range(20):
        exporter_app.call("gpt-4o", ttft=0.4, prompt=10, completion=10)  # (250, 500] ms
        exporter_app.call("mistral", ttft=0.8, prompt=10, completion=10)  # (500, 1000] ms
        exporter_app.call("llama-3", ttft=0.08, prompt=10, completion=10)  # (50, 100] ms
    assert await asyncio.to_thread(exporter_app.provider.force_flush)
    await live_server.settle()
    stored = await samples(live_server, "chat-api", "ttft")
    assert {s["labels"]["model"]: s["histogram"]["count"] for s in stored} == {
        "gpt-4o": 20,
        "mistral": 20,
        "llama-3": 20,
    }
    response = await live_server.client.get(
        live_server.api("/alerts"), headers=live_server.auth("viewer")
    )
    fired = sorted((a["labels"]["model"], a["currentValue"]) for a in response.json()["data"])
    # histogram_quantile: rank 19 of 20 in a bucket holding all 20, interpolated linearly
    assert fired == [("gpt-4o", 250 + 250 * 19 / 20), ("mistral", 500 + 500 * 19 / 20)]
