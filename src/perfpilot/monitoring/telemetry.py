"""Perfpilot's own Prometheus metrics, on a registry per app (tests run many apps)."""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class LatestValues:
    """Latest value per (service, metric type), kept by the ingest path for exposition."""

    def __init__(self) -> None:
        self.values: dict[tuple[str, str], tuple[float, float]] = {}

    def update(self, service: str, metric_type: str, value: float, ts: float) -> None:
        key = (service, metric_type)
        current = self.values.get(key)
        if current is None or ts >= current[1]:
            self.values[key] = (value, ts)


class _LatestCollector(Collector):
    def __init__(self, latest: LatestValues) -> None:
        self._latest = latest

    def collect(self) -> Iterator[GaugeMetricFamily]:
        value = GaugeMetricFamily(
            "perfpilot_service_metric_value",
            "Latest value reported per service and metric type (canonical unit)",
            labels=["service", "metric_type"],
        )
        stamp = GaugeMetricFamily(
            "perfpilot_service_metric_timestamp_seconds",
            "Timestamp of the latest value per service and metric type",
            labels=["service", "metric_type"],
        )
        for (service, metric_type), (val, ts) in list(self._latest.values.items()):
            value.add_metric([service, metric_type], val)
            stamp.add_metric([service, metric_type], ts)
        yield value
        yield stamp


class Telemetry:
    """Every metric Perfpilot exports about itself."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.latest = LatestValues()
        self.registry.register(_LatestCollector(self.latest))
        self.samples_ingested = Counter(
            "perfpilot_samples_ingested",
            "Samples committed to the store, by metric type",
            ["metric_type"],
            registry=self.registry,
        )
        self.requests = Counter(
            "perfpilot_http_requests",
            "HTTP requests by route, method and status",
            ["route", "method", "status"],
            registry=self.registry,
        )
        self.request_duration = Histogram(
            "perfpilot_http_request_duration_seconds",
            "HTTP request duration by route and method",
            ["route", "method"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.group_commit_size = Histogram(
            "perfpilot_group_commit_rows",
            "Rows per group commit of ingested samples",
            buckets=(1, 10, 100, 1_000, 10_000, 50_000),
            registry=self.registry,
        )
        self.alert_commit_latency = Histogram(
            "perfpilot_alert_commit_latency_seconds",
            "Sample timestamp to alert committed",
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.webhook_delivery_latency = Histogram(
            "perfpilot_webhook_delivery_latency_seconds",
            "Event time to webhook delivered",
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.samples_evaluated = Counter(
            "perfpilot_engine_samples_evaluated",
            "Samples the rule engine has evaluated (compare with samples ingested for lag)",
            registry=self.registry,
        )
        self.engine_failures = Counter(
            "perfpilot_engine_failures",
            "Engine failures isolated so the rest went on: stage=evaluate (one rule/service "
            "pair's evaluation raised), step (a step's transaction failed and was retried), "
            "persist (one pair's writes failed again on the retry and were dropped)",
            ["stage"],
            registry=self.registry,
        )
        self.engine_queue = Gauge(
            "perfpilot_engine_queue_depth",
            "Sample groups and commands waiting for the rule engine",
            registry=self.registry,
        )
        self.outbox_backlog = Gauge(
            "perfpilot_outbox_backlog",
            "Webhook deliveries not yet delivered",
            registry=self.registry,
        )
