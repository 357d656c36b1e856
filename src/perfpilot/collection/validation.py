"""Collected samples -> canonical samples, checked as the JSON batch API checks pushed ones.

Service name, registered type, unit, bounds, range, timestamp: each refusal is a message
naming the field. `SampleCheck` holds what one batch (an export, a scrape) shares: the latest
acceptable timestamp and the per-(service, type, unit) verdicts. The converter calls `number`
directly for gauge points (no collected sample in between); `collected` checks the others.
"""

from __future__ import annotations

import math
import re
import time
from dataclasses import dataclass
from datetime import datetime

from pydantic import ValidationError

from perfpilot.collection.samples import CollectedSample
from perfpilot.metrics.canonical import NO_LABELS, CanonicalSample, canonical
from perfpilot.metrics.schemas import MAX_FUTURE_SKEW_SECONDS, SERVICE_NAME_PATTERN, MetricIn
from perfpilot.metrics.units import (
    REGISTRY,
    VALUE_BOUND,
    UnitError,
    bound_error,
    conversion_factor,
    range_error,
)

_SERVICE_NAME = re.compile(SERVICE_NAME_PATTERN)


@dataclass(frozen=True, slots=True)
class Kind:
    """What validation needs of a (service, type, unit): checked once per batch."""

    canonical: str
    factor: float
    minimum: float  # the type's range within the finite bound
    maximum: float


def _kind(service_name: str, metric_type: str, unit: str | None, where: str) -> Kind | str:
    if not _SERVICE_NAME.fullmatch(service_name):
        return (
            f"{where}: serviceName {service_name[:100]!r} must be 1-100 chars of "
            "[A-Za-z0-9._:-], starting alphanumeric"
        )
    spec = REGISTRY.get(metric_type)
    if spec is None:
        return f"{where}: metric type {metric_type!r} is not registered"
    try:
        factor = conversion_factor(metric_type, unit)
    except UnitError as exc:
        return f"{where}: {exc}"
    minimum = -VALUE_BOUND if spec.minimum is None else max(spec.minimum, -VALUE_BOUND)
    maximum = VALUE_BOUND if spec.maximum is None else min(spec.maximum, VALUE_BOUND)
    return Kind(spec.canonical, factor, minimum, maximum)


class SampleCheck:
    """The validation of one batch of collected samples."""

    __slots__ = ("_kinds", "latest")

    def __init__(self, *, now: float | None = None) -> None:
        self.latest = (time.time() if now is None else now) + MAX_FUTURE_SKEW_SECONDS
        self._kinds: dict[tuple[str, str, str | None], Kind | str] = {}

    def kind(self, service_name: str, metric_type: str, unit: str | None, where: str) -> Kind | str:
        """The conversion and range of a (service, type, unit), or why its samples are refused."""
        key = (service_name, metric_type, unit)
        kind = self._kinds.get(key)
        if kind is None:
            kind = self._kinds[key] = _kind(service_name, metric_type, unit, where)
        return kind

    def number(
        self,
        kind: Kind,
        *,
        where: str,
        service_name: str,
        metric_type: str,
        value: float,
        timestamp: datetime,
        labels: dict[str, str],
    ) -> CanonicalSample | str:
        """A value sample of a checked kind in canonical form, or why it is refused."""
        if timestamp.timestamp() > self.latest:
            return f"{where}: timestamp is more than 5 minutes in the future"
        value *= kind.factor
        if not kind.minimum <= value <= kind.maximum:  # (NaN is never in range)
            problem = bound_error(value)
            if problem:
                return f"{where}: value {problem}"
            problem = range_error(metric_type, value)
            if problem:
                return f"{where}: {problem}"
        return CanonicalSample(
            service_name,
            metric_type,
            value,
            kind.canonical,
            timestamp,
            {},
            "{}",
            labels or NO_LABELS,
        )

    def collected(self, sample: CollectedSample) -> CanonicalSample | str:
        """A collected sample in canonical form, or why it is refused."""
        where = sample.source or sample.metric_type
        kind = self.kind(sample.service_name, sample.metric_type, sample.unit, where)
        if isinstance(kind, str):
            return kind
        if sample.histogram is not None:
            return _histogram_sample(sample, where)
        return self.number(
            kind,
            where=where,
            service_name=sample.service_name,
            metric_type=sample.metric_type,
            value=sample.value if sample.value is not None else math.nan,
            timestamp=sample.timestamp,
            labels=sample.labels,
        )


def _histogram_sample(sample: CollectedSample, where: str) -> CanonicalSample | str:
    """A histogram sample through the reference validation of the JSON API (MetricIn): bounds
    and sum converted to the canonical unit, buckets checked, as a pushed histogram is."""
    h = sample.histogram
    assert h is not None
    if "histogram" not in MetricIn.model_fields:  # a store without the histogram table
        return f"{where}: histogram samples are not accepted by this store"
    wire = {
        "serviceName": sample.service_name,
        "metricType": sample.metric_type,
        "unit": sample.unit,
        "timestamp": sample.timestamp,
        "labels": dict(sample.labels),
        "histogram": {"bounds": h.bounds, "counts": h.counts, "sum": h.sum, "count": h.count},
        "intervalSeconds": sample.interval_seconds,
    }
    try:
        return canonical(MetricIn.model_validate(wire))
    except ValidationError as exc:
        first = exc.errors()[0]
        field = ".".join(str(part) for part in first["loc"]) or "histogram"
        return f"{where}: {field}: {first['msg']}"
