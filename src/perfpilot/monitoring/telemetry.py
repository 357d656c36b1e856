"""Perfpilot's own Prometheus metrics, on a registry per app (tests run many apps)."""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable, Iterator

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from perfpilot.core.db import WRITER_ROLES

WAIT_BUCKETS = (0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0)
STAGE_BUCKETS = (
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
)  # fmt: skip
# the stages of one alert, sample to webhook (observed once per alert that fires)
ALERT_PATH_STAGES = (
    "received",  # sample timestamp -> its group commit began (HTTP, wait behind the previous)
    "group_commit",  # the group commit holding the sample (write-turn wait + insert)
    "engine_queue",  # committed group handed to the engine -> an engine step took it
    "evaluate",  # the step took it -> its transaction began
    "step_commit",  # the step's transaction (write-turn wait + statements + commit)
    "outbox_claim",  # the alert.fired delivery row written -> claimed by the dispatcher
    "webhook_post",  # the POST, request to response
)
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
# sample -> alert committed: finer under its 50 ms budget (DESIGN §8), so a p99 read from the
# buckets can show whether it is under the budget, not only under the next bound up (100 ms)
ALERT_COMMIT_BUCKETS = (
    *(b for b in LATENCY_BUCKETS if b < 0.025),
    *(0.02, 0.025, 0.03, 0.035, 0.04, 0.045, 0.05, 0.075),
    *(b for b in LATENCY_BUCKETS if b > 0.05),
)


class LatestValues:
    """Latest value per (service, metric type), kept by the ingest path for exposition.

    Bounded: a series not updated for `silent_seconds` is dropped (a service that stopped
    reporting disappears from the exposition, as Prometheus expects of a gone target), and at
    most `max_series` are kept, the least recently updated one making room for a new one.
    Every operation is O(1) amortised: series are kept in update order.
    """

    def __init__(
        self,
        *,
        max_series: int = 10_000,
        silent_seconds: float = 300.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.max_series = max_series
        self.silent_seconds = silent_seconds
        self.clock = clock
        # (service, type) -> (value, sample timestamp, when it was updated by `clock`)
        self._series: OrderedDict[tuple[str, str], tuple[float, float, float]] = OrderedDict()
        self.evicted: Counter | None = None

    def update(self, service: str, metric_type: str, value: float, ts: float) -> None:
        now = self.clock()
        key = (service, metric_type)
        current = self._series.get(key)
        if current is not None and ts < current[1]:
            value, ts = (
                current[0],
                current[1],
            )  # a late sample: the series is alive, the value stays
        self._series[key] = (value, ts, now)
        self._series.move_to_end(key)
        while len(self._series) > self.max_series:
            self._series.popitem(last=False)
            self._count_eviction("cap")
        self.evict_silent(now)

    def evict_silent(self, now: float | None = None) -> None:
        """Drop the series not updated for `silent_seconds` (the oldest come first)."""
        horizon = (self.clock() if now is None else now) - self.silent_seconds
        while self._series:
            key, (_, _, updated) = next(iter(self._series.items()))
            if updated >= horizon:
                break
            del self._series[key]
            self._count_eviction("silent")

    def snapshot(self) -> list[tuple[tuple[str, str], float, float]]:
        """(service, type), value, sample timestamp of every live series."""
        self.evict_silent()
        return [(key, value, ts) for key, (value, ts, _) in self._series.items()]

    def __len__(self) -> int:
        return len(self._series)

    def _count_eviction(self, reason: str) -> None:
        if self.evicted is not None:
            self.evicted.labels(reason).inc()


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
        for (service, metric_type), val, ts in self._latest.snapshot():
            value.add_metric([service, metric_type], val)
            stamp.add_metric([service, metric_type], ts)
        yield value
        yield stamp


class Telemetry:
    """Every metric Perfpilot exports about itself."""

    def __init__(self, *, max_series: int = 10_000, silent_seconds: float = 300.0) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.latest = LatestValues(max_series=max_series, silent_seconds=silent_seconds)
        self.registry.register(_LatestCollector(self.latest))
        self.latest.evicted = Counter(
            "perfpilot_service_series_evicted",
            "Latest-value series dropped from this exposition: silent (no sample for the "
            "no-data horizon) or cap (PERFPILOT_EXPOSITION_MAX_SERIES reached)",
            ["reason"],
            registry=self.registry,
        )
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
            buckets=ALERT_COMMIT_BUCKETS,
            registry=self.registry,
        )
        self.webhook_delivery_latency = Histogram(
            "perfpilot_webhook_delivery_latency_seconds",
            "Event time to webhook delivered",
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.db_write_wait = Histogram(
            "perfpilot_db_write_wait_seconds",
            "SQLite: time a writer waited for the one write connection (its turn), by writer",
            ["writer"],
            buckets=WAIT_BUCKETS,
            registry=self.registry,
        )
        self.db_write_hold = Histogram(
            "perfpilot_db_write_hold_seconds",
            "SQLite: how long a writer held the one write connection (checkout to checkin), "
            "by writer",
            ["writer"],
            buckets=STAGE_BUCKETS,
            registry=self.registry,
        )
        self.alert_path = Histogram(
            "perfpilot_alert_path_seconds",
            "Each stage of a fired alert's path from sample to webhook: "
            + ", ".join(ALERT_PATH_STAGES),
            ["stage"],
            buckets=STAGE_BUCKETS,
            registry=self.registry,
        )
        for role in WRITER_ROLES:  # exported from the start, at zero
            self.db_write_wait.labels(role)
            self.db_write_hold.labels(role)
        for stage in ALERT_PATH_STAGES:
            self.alert_path.labels(stage)
        self.db_lock_wait = Histogram(
            "perfpilot_db_lock_wait_seconds",
            "SQLite: BEGIN IMMEDIATE duration; over 1 ms means it slept in the busy handler",
            buckets=WAIT_BUCKETS,
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
            "persist (one pair's writes failed again on the retry and were dropped), actions (a "
            "step's actions failed; once more for each one tried alone and dropped)",
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
