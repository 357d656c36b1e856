"""Prometheus text and OTLP exponential histograms -> source points."""

from __future__ import annotations

import math

import pytest
from opentelemetry.proto.metrics.v1.metrics_pb2 import ExponentialHistogramDataPoint

from perfpilot.collection.exposition import ExpositionError, parse_exposition
from perfpilot.collection.otlp import exponential_buckets

TEXT = """# HELP vllm:e2e_request_latency_seconds E2E
# TYPE vllm:e2e_request_latency_seconds histogram
vllm:e2e_request_latency_seconds_bucket{le="0.5",model_name="m"} 2.0
vllm:e2e_request_latency_seconds_bucket{le="1.0",model_name="m"} 5.0
vllm:e2e_request_latency_seconds_bucket{le="+Inf",model_name="m"} 6.0
vllm:e2e_request_latency_seconds_count{model_name="m"} 6.0
vllm:e2e_request_latency_seconds_sum{model_name="m"} 4.5
vllm:e2e_request_latency_seconds_created{model_name="m"} 1.7e9
# TYPE vllm:request_success_total counter
vllm:request_success_total{finished_reason="stop",model_name="m"} 12.0
vllm:request_success_created{finished_reason="stop",model_name="m"} 1.7e9
# TYPE vllm:num_requests_waiting gauge
vllm:num_requests_waiting{model_name="m"} 3.0
"""


def test_histogram_buckets_become_per_bucket_counts() -> None:
    points, series = parse_exposition(TEXT, service="s", time=10.0, max_series=100)
    by_name = {p.name: p for p in points}
    histogram = by_name["vllm:e2e_request_latency_seconds"]
    assert histogram.shape == "histogram"
    assert histogram.bounds == (0.5, 1.0)
    assert histogram.counts == (2.0, 3.0, 1.0)
    assert (histogram.count, histogram.value) == (6.0, 4.5)
    assert histogram.attributes == {"model_name": "m"}
    assert by_name["vllm:request_success_total"].shape == "counter"
    assert by_name["vllm:num_requests_waiting"].value == 3.0
    assert not any(p.name.endswith("_created") for p in points)
    assert series == 9


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("<html><body>502 Bad Gateway</body></html>", "not the Prometheus text format"),
        ('up 1\nup{a="b"} not-a-number\n', "not the Prometheus text format"),
        ('# TYPE h histogram\nh_bucket{le="1"} 1\nh_count 1\nh_sum 1\n', "+Inf"),
    ],
)
def test_garbage_is_an_error_that_says_why(body: str, message: str) -> None:
    with pytest.raises(ExpositionError, match=message.replace("+", r"\+")):
        parse_exposition(body, service="s", time=0.0, max_series=100)


def test_the_series_cap_refuses_the_whole_body() -> None:
    body = "".join(f'm{{i="{i}"}} 1\n' for i in range(11))
    with pytest.raises(ExpositionError, match="more than 10 series"):
        parse_exposition(body, service="s", time=0.0, max_series=10)


def test_exponential_histogram_becomes_explicit_buckets() -> None:
    point = ExponentialHistogramDataPoint(scale=0, zero_count=1, count=6, sum=9.0)
    point.positive.offset = 1  # base 2: buckets (2, 4], (4, 8]
    point.positive.bucket_counts.extend([3, 2])
    bounds, counts = exponential_buckets(point)
    assert bounds == (0.0, 2.0, 4.0, 8.0)
    assert counts == (1.0, 0.0, 3.0, 2.0, 0.0)
    assert sum(counts) == point.count


def test_the_sdk_exponential_histogram_keeps_every_observation() -> None:
    """The real SDK's exponential histogram, encoded by its OTLP encoder, as the receiver
    turns it into explicit buckets: counts add up and each value's bucket contains it."""
    from opentelemetry.exporter.otlp.proto.common.metrics_encoder import encode_metrics
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import InMemoryMetricReader
    from opentelemetry.sdk.metrics.view import ExponentialBucketHistogramAggregation, View

    from perfpilot.collection.convert import Conversion
    from perfpilot.collection.otlp import source_points

    reader = InMemoryMetricReader()
    provider = MeterProvider(
        metric_readers=[reader],
        views=[View(instrument_name="*", aggregation=ExponentialBucketHistogramAggregation())],
    )
    ttft = provider.get_meter("t").create_histogram("gen_ai.server.time_to_first_token", unit="s")
    values = [0.012, 0.05, 0.2, 0.2, 0.35, 1.7, 4.0]
    for v in values:
        ttft.record(v)
    data = reader.get_metrics_data()
    assert data is not None
    out = Conversion()
    [point] = [
        p
        for p in source_points(encode_metrics(data), out)
        if p.name == "gen_ai.server.time_to_first_token"
    ]
    provider.shutdown()
    assert point.count == len(values)
    assert sum(point.counts) == len(values)
    assert list(point.bounds) == sorted(point.bounds)
    edges = [-math.inf, *point.bounds, math.inf]
    for v in values:  # the bucket (edges[i], edges[i+1]] holding v has a count
        i = next(i for i in range(len(edges) - 1) if edges[i] < v <= edges[i + 1])
        assert point.counts[i] > 0, (v, edges[i], edges[i + 1])
