"""The histogram of a sample: bucket bounds and counts, sum and count over an interval."""

from __future__ import annotations

import math
from itertools import pairwise
from typing import Annotated

from pydantic import Field, ValidationInfo, field_validator

from perfpilot.core.schemas import CamelModel
from perfpilot.metrics.units import REGISTRY, bound_error, conversion_factor

MAX_HISTOGRAM_BOUNDS = 512
MAX_INTERVAL_SECONDS = 86_400.0
MAX_COUNT = 2**53  # exact in a double, as the sums of counts are computed

Count = Annotated[int, Field(strict=True, ge=0, le=MAX_COUNT)]


class HistogramIn(CamelModel):
    """Observations of the interval ending at the sample's timestamp, in buckets:
    `counts[0]` <= bounds[0] < `counts[1]` <= bounds[1] ... < `counts[k]` (k = len(bounds),
    the +Inf bucket). Bounds and sum are in the sample's `unit` and are converted with it."""

    bounds: list[Annotated[float, Field(strict=True)]] = Field(
        min_length=1,
        max_length=MAX_HISTOGRAM_BOUNDS,
        description="Upper bounds of the finite buckets, strictly increasing and finite",
        examples=[[100, 250, 500, 1000, 2500]],
    )
    counts: list[Count] = Field(
        min_length=2,
        max_length=MAX_HISTOGRAM_BOUNDS + 1,
        description="Observations per bucket (not cumulative): len(bounds) + 1 numbers, the "
        "last for the +Inf bucket",
        examples=[[40, 35, 15, 6, 3, 1]],
    )
    sum: float = Field(strict=True, description="Sum of the observed values", examples=[31250])
    count: Count = Field(description="Number of observations: the sum of counts", examples=[100])

    @field_validator("bounds")
    @classmethod
    def _bounds_increasing(cls, bounds: list[float]) -> list[float]:
        for i, bound in enumerate(bounds):
            if not math.isfinite(bound):
                raise ValueError(f"bounds[{i}] must be finite (the +Inf bucket is implicit)")
            if i and bound <= bounds[i - 1]:
                raise ValueError(f"bounds must be strictly increasing (bounds[{i}] = {bound:g})")
        return bounds

    @field_validator("counts")
    @classmethod
    def _one_count_per_bucket(cls, counts: list[int], info: ValidationInfo) -> list[int]:
        bounds = info.data.get("bounds")
        if bounds is not None and len(counts) != len(bounds) + 1:
            raise ValueError(
                f"counts must hold len(bounds) + 1 = {len(bounds) + 1} numbers (the last for "
                f"the +Inf bucket), not {len(counts)}"
            )
        return counts

    @field_validator("sum")
    @classmethod
    def _sum_finite(cls, total: float) -> float:
        if not math.isfinite(total):
            raise ValueError("sum must be a finite number")
        return total

    @field_validator("count")
    @classmethod
    def _count_is_the_total(cls, count: int, info: ValidationInfo) -> int:
        counts = info.data.get("counts")
        if counts is not None and sum(counts) != count:
            raise ValueError(f"count must equal the sum of counts ({sum(counts)}), not {count}")
        return count


class HistogramOut(CamelModel):
    bounds: list[float] = Field(description="In the canonical unit")
    counts: list[int]
    sum: float = Field(description="In the canonical unit")
    count: int


def canonical_histogram(metric_type: str, unit: str | None, histogram: HistogramIn) -> HistogramIn:
    """Bounds and sum converted to the type's canonical unit (like a value), checked against
    the finite bound, and the sum against the type's range (count x min .. count x max)."""
    factor = conversion_factor(metric_type, unit)
    bounds = [b * factor for b in histogram.bounds] if factor != 1.0 else histogram.bounds
    total = histogram.sum * factor
    for i, bound in enumerate(bounds):
        problem = bound_error(bound)
        if problem:
            raise ValueError(f"histogram.bounds[{i}] {problem}")
    if any(b <= a for a, b in pairwise(bounds)):  # float underflow
        raise ValueError("histogram.bounds are no longer distinct once converted")
    problem = bound_error(total)
    if problem:
        raise ValueError(f"histogram.sum {problem}")
    spec = REGISTRY[metric_type]
    n = histogram.count
    if (spec.minimum is not None and total < spec.minimum * n) or (
        spec.maximum is not None and total > spec.maximum * n
    ):
        raise ValueError(
            f"histogram.sum must lie within count x the range of {metric_type} "
            f"({range_text(metric_type)})"
        )
    return HistogramIn.model_construct(
        bounds=bounds, counts=histogram.counts, sum=total, count=histogram.count
    )


def range_text(metric_type: str) -> str:
    spec = REGISTRY[metric_type]
    low = "-inf" if spec.minimum is None else f"{spec.minimum:g}"
    high = "+inf" if spec.maximum is None else f"{spec.maximum:g}"
    return f"{low}..{high} {spec.canonical}"
