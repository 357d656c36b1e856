"""Histogram samples through validation: what OTLP and scraping will hand to ingestion."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from perfpilot.metrics.canonical import validated_sample


def body(**histogram: Any) -> dict[str, Any]:
    base = {"bounds": [0.1, 0.5], "counts": [3, 2, 1], "sum": 1.2, "count": 6}
    return {
        "serviceName": "svc",
        "metricType": "ttft",
        "unit": "s",
        "histogram": base | histogram,
        "intervalSeconds": 30,
    }


def test_bounds_and_sum_convert_with_the_unit() -> None:
    sample = validated_sample(body())
    assert sample.histogram is not None
    assert sample.histogram.bounds == (100.0, 500.0)
    assert sample.histogram.sum == pytest.approx(1200.0)
    assert sample.histogram.counts == (3, 2, 1)
    assert (sample.unit, sample.interval_seconds) == ("ms", 30.0)
    assert sample.value == pytest.approx(200.0)  # the interval's mean


def test_an_empty_interval_is_valid_and_has_no_mean() -> None:
    sample = validated_sample(body(counts=[0, 0, 0], count=0, sum=0.0))
    assert sample.histogram is not None and sample.histogram.mean is None


def field_of(data: dict[str, Any]) -> str:
    with pytest.raises(ValidationError) as caught:
        validated_sample(data)
    return ".".join(str(p) for p in caught.value.errors()[0]["loc"])


def test_errors_name_the_field() -> None:
    assert field_of(body(bounds=[0.5, 0.5])) == "histogram.bounds"
    assert field_of(body(bounds=[float("inf")], counts=[1, 0], count=1)) == "histogram.bounds"
    assert field_of(body(counts=[3, 2])) == "histogram.counts"
    assert field_of(body(counts=[3, 2, -1])) == "histogram.counts.2"
    assert field_of(body(count=7)) == "histogram.count"
    assert field_of(body(bounds=[])) == "histogram.bounds"
    assert field_of(body(sum=-1.0)) == "histogram"  # ttft >= 0: so is a sum of them
    assert field_of({**body(), "value": 1.0}) == "value"
    assert field_of({**body(), "unit": "tokens"}) == "unit"


@given(
    st.lists(st.floats(0.001, 1e6), min_size=1, max_size=20, unique=True).map(sorted),
    st.data(),
)
def test_every_consistent_histogram_is_accepted_and_keeps_its_counts(
    bounds: list[float], data: st.DataObject
) -> None:
    counts = data.draw(
        st.lists(st.integers(0, 10**9), min_size=len(bounds) + 1, max_size=len(bounds) + 1)
    )
    total = data.draw(st.floats(0.0, 1e9))
    sample = validated_sample(
        {
            "serviceName": "svc",
            "metricType": "latency",
            "histogram": {"bounds": bounds, "counts": counts, "sum": total, "count": sum(counts)},
        }
    )
    assert sample.histogram is not None
    assert list(sample.histogram.counts) == counts
    assert list(sample.histogram.bounds) == bounds  # canonical unit: unchanged
