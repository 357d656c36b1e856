"""Gauge points straight to canonical samples (NumberPoints) give exactly what the point path
(SourcePoint -> CollectedSample -> validation) gives: the same samples, refusals and reasons."""

from __future__ import annotations

import math
from collections.abc import Iterator

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceRequest,
)

from perfpilot.collection import otlp
from perfpilot.collection.convert import (
    Conversion,
    ConvertOptions,
    NumberPoints,
    Pairs,
    SourcePoint,
    convert_points,
)
from perfpilot.collection.cumulative import CumulativeState
from perfpilot.collection.mapping import builtin_table
from perfpilot.collection.sink import unit_accepted
from perfpilot.collection.validation import SampleCheck
from perfpilot.metrics.canonical import CanonicalSample

NOW = 1_800_000_000.0
OPTIONS = ConvertOptions(table=builtin_table(), unit_ok=unit_accepted)
Point = tuple[Pairs, float, float]


def _through_points(
    service: str, name: str, unit: str | None, points: list[Point]
) -> tuple[list[CanonicalSample], Conversion]:
    sources = [
        SourcePoint(service, name, dict(pairs), "number", t, 0.0, v, unit=unit)
        for pairs, t, v in points
    ]
    check = SampleCheck(now=NOW)
    out = convert_points(sources, CumulativeState(), OPTIONS, check=check)
    valid = []
    for sample in out.samples:  # what ingest_collected does with them
        checked = check.collected(sample)
        if isinstance(checked, str):
            out.reject(checked)
        else:
            valid.append(checked)
    return valid, out


def _through_numbers(
    service: str, name: str, unit: str | None, points: list[Point]
) -> tuple[list[CanonicalSample], Conversion]:
    block = NumberPoints(service, name, unit, iter(points), len(points))
    out = convert_points([block], CumulativeState(), OPTIONS, check=SampleCheck(now=NOW))
    assert out.samples == []
    return out.ready, out


def _same(service: str, name: str, unit: str | None, points: list[Point]) -> Conversion:
    expected, before = _through_points(service, name, unit, points)
    got, after = _through_numbers(service, name, unit, points)
    assert got == expected
    assert (after.rejected, set(after.reasons)) == (before.rejected, set(before.reasons))
    assert after.unmapped == before.unmapped
    return after


@pytest.mark.parametrize(
    ("service", "name", "unit", "value", "pairs", "refused"),
    [
        ("chat", "vllm:num_requests_waiting", None, 3.0, (("model_name", "m"),), ""),
        ("chat", "vllm:kv_cache_usage_perc", "percent", 42.0, (), ""),  # converted
        ("chat", "vllm:kv_cache_usage_perc", None, 1.5, (), "kv_cache_usage must be"),
        ("chat", "vllm:num_requests_waiting", None, math.nan, (), "finite number"),
        ("chat", "vllm:num_requests_waiting", None, 2e15, (), "finite number"),
        ("chat", "vllm:num_requests_waiting", None, -1.0, (), "queue_depth must be"),
        ("bad name!", "vllm:num_requests_waiting", None, 1.0, (), "serviceName"),
        ("chat", "vllm:num_requests_waiting", None, 1.0, (("x", "v" * 300),), "labels.x"),
        ("chat", "vllm:num_requests_waiting", None, 1.0, (("1x", "v"),), ""),  # renamed _1x
        ("chat", "no.such.metric", None, 1.0, (), "not mapped"),
        ("chat", "vllm:generation_tokens_total", None, 1.0, (), "cannot give a rate"),
    ],
)
def test_each_verdict_is_the_point_paths(
    service: str, name: str, unit: str | None, value: float, pairs: Pairs, refused: str
) -> None:
    out = _same(service, name, unit, [(pairs, NOW - 5, value), (pairs, NOW + 400, 1.0)])
    assert any("5 minutes in the future" in r for r in out.reasons) or out.rejected == 2
    if refused:
        assert any(refused in r for r in out.reasons), out.reasons
    else:
        assert out.rejected == 1  # the future one


names = st.sampled_from(
    ["vllm:num_requests_waiting", "vllm:kv_cache_usage_perc", "tgi_queue_size", "unmapped"]
)
point = st.tuples(
    st.lists(
        st.tuples(
            st.sampled_from(["model_name", "gen_ai.request.model", "9"]), st.text(max_size=3)
        ),
        max_size=3,
    ).map(tuple),
    st.floats(NOW - 10**6, NOW + 10**3),
    st.one_of(st.floats(allow_nan=True), st.integers(-5, 5).map(float)),
)


@settings(max_examples=200, deadline=None)
@given(
    name=names, unit=st.sampled_from([None, "%", "percent", "ratio", "s"]), points=st.lists(point)
)
def test_any_gauge_points_give_what_the_point_path_gives(
    name: str, unit: str | None, points: list[Point]
) -> None:
    _same("svc", name, unit, points)


def _export() -> ExportMetricsServiceRequest:
    request = ExportMetricsServiceRequest()
    resource = request.resource_metrics.add()
    resource.resource.attributes.add(key="service.name").value.string_value = "chat"
    metrics = resource.scope_metrics.add().metrics
    gauge = metrics.add(name="vllm:num_requests_running")
    for i, model in enumerate(["a", "b"]):
        p = gauge.gauge.data_points.add(time_unix_nano=int(NOW * 1e9) - i, as_int=i + 2)
        p.attributes.add(key="model_name").value.string_value = model
        p.attributes.add(key="replica").value.int_value = i
    updown = metrics.add(name="tgi_queue_size")
    updown.sum.is_monotonic = False
    updown.sum.data_points.add(time_unix_nano=int(NOW * 1e9), as_double=7.5)
    return request


def test_otlp_gauges_and_up_down_sums_come_as_number_points() -> None:
    items = list(otlp.source_points(_export(), Conversion()))
    assert [type(i) for i in items] == [NumberPoints, NumberPoints]
    running, queue = items
    assert isinstance(running, NumberPoints) and isinstance(queue, NumberPoints)
    points: Iterator[Point] = running.points
    assert list(points) == [
        ((("model_name", "a"), ("replica", "0")), NOW, 2.0),
        ((("model_name", "b"), ("replica", "1")), (int(NOW * 1e9) - 1) / 1e9, 3.0),
    ]
    assert list(queue.points) == [((), NOW, 7.5)]
    out = convert_points(
        otlp.source_points(_export(), Conversion()),
        CumulativeState(),
        OPTIONS,
        check=SampleCheck(now=NOW),
    )
    stored = sorted((s.metric_type, s.value, sorted(s.labels.items())) for s in out.ready)
    assert stored == [
        ("queue_depth", 7.5, []),
        ("requests_running", 2.0, [("model_name", "a"), ("replica", "0")]),
        ("requests_running", 3.0, [("model_name", "b"), ("replica", "1")]),
    ]
