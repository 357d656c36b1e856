"""Collected samples -> the validation and group-commit ingest path of the JSON batch API.

Each sample is checked as a pushed one would be (service name, type, unit, bounds, range,
timestamp, labels); the valid ones are committed by the same ingest writer, so rules and
alerts see them as they see pushed samples. The invalid ones are counted with a reason.
"""

from __future__ import annotations

import asyncio
import math
import re
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

from pydantic import ValidationError

from perfpilot.collection.convert import MAX_REASONS
from perfpilot.collection.samples import CollectedSample
from perfpilot.metrics.canonical import NO_LABELS, CanonicalSample, canonical
from perfpilot.metrics.ingest import IngestWriter
from perfpilot.metrics.schemas import MAX_FUTURE_SKEW_SECONDS, SERVICE_NAME_PATTERN, MetricIn
from perfpilot.metrics.series import CardinalityLimitExceeded
from perfpilot.metrics.service import record_canonical
from perfpilot.metrics.units import (
    REGISTRY,
    VALUE_BOUND,
    UnitError,
    bound_error,
    conversion_factor,
    range_error,
)

_SERVICE_NAME = re.compile(SERVICE_NAME_PATTERN)


@dataclass(slots=True)
class SinkResult:
    accepted: int = 0
    rejected: int = 0
    reasons: list[str] = field(default_factory=list)

    def reject(self, reason: str) -> None:
        self.rejected += 1
        if len(self.reasons) < MAX_REASONS and reason not in self.reasons:
            self.reasons.append(reason)


def known_type(metric_type: str) -> bool:
    """Whether the registry knows the metric type."""
    return metric_type in REGISTRY


def unit_accepted(metric_type: str, unit: str) -> bool:
    """Whether the registry converts `unit` for `metric_type`."""
    if metric_type not in REGISTRY:
        return False
    try:
        conversion_factor(metric_type, unit)
    except UnitError:
        return False
    return True


@dataclass(frozen=True, slots=True)
class _Kind:
    """What validation needs of a (service, type, unit): checked once per batch."""

    canonical: str
    factor: float
    minimum: float  # the type's range within the finite bound
    maximum: float


def _kind(sample: CollectedSample, where: str) -> _Kind | str:
    if not _SERVICE_NAME.fullmatch(sample.service_name):
        return (
            f"{where}: serviceName {sample.service_name[:100]!r} must be 1-100 chars of "
            "[A-Za-z0-9._:-], starting alphanumeric"
        )
    spec = REGISTRY.get(sample.metric_type)
    if spec is None:
        return f"{where}: metric type {sample.metric_type!r} is not registered"
    try:
        factor = conversion_factor(sample.metric_type, sample.unit)
    except UnitError as exc:
        return f"{where}: {exc}"
    minimum = -VALUE_BOUND if spec.minimum is None else max(spec.minimum, -VALUE_BOUND)
    maximum = VALUE_BOUND if spec.maximum is None else min(spec.maximum, VALUE_BOUND)
    return _Kind(spec.canonical, factor, minimum, maximum)


def validate(
    sample: CollectedSample,
    *,
    latest: float,
    kinds: dict[tuple[str, str, str | None], _Kind | str] | None = None,
) -> CanonicalSample | str:
    """The sample in canonical form, or why it is refused (a message naming the field).
    `kinds` caches the per-(service, type, unit) checks across a batch."""
    where = sample.source or sample.metric_type
    key = (sample.service_name, sample.metric_type, sample.unit)
    kind = kinds.get(key) if kinds is not None else None
    if kind is None:
        kind = _kind(sample, where)
        if kinds is not None:
            kinds[key] = kind
    if isinstance(kind, str):
        return kind
    if sample.histogram is not None:
        return _histogram_sample(sample, where)
    if sample.timestamp.timestamp() > latest:
        return f"{where}: timestamp is more than 5 minutes in the future"
    value = (sample.value if sample.value is not None else math.nan) * kind.factor
    if not kind.minimum <= value <= kind.maximum:  # (NaN is never in range)
        problem = bound_error(value)
        if problem:
            return f"{where}: value {problem}"
        problem = range_error(sample.metric_type, value)
        if problem:
            return f"{where}: {problem}"
    return CanonicalSample(
        sample.service_name,
        sample.metric_type,
        value,
        kind.canonical,
        sample.timestamp,
        {},
        "{}",
        sample.labels or NO_LABELS,
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


async def ingest_collected(writer: IngestWriter, samples: Sequence[CollectedSample]) -> SinkResult:
    """Validate and commit (group commit); returns once the valid samples are committed."""
    result = SinkResult()
    latest = time.time() + MAX_FUTURE_SKEW_SECONDS
    valid: list[CanonicalSample] = []
    kinds: dict[tuple[str, str, str | None], _Kind | str] = {}
    for sample in samples:
        checked = validate(sample, latest=latest, kinds=kinds)
        if isinstance(checked, str):
            result.reject(checked)
        else:
            valid.append(checked)
    if not valid:
        return result
    try:
        await record_canonical(writer, valid)
    except CardinalityLimitExceeded:
        await _record_per_service(writer, valid, result)
    else:
        result.accepted = len(valid)
    return result


async def _record_per_service(
    writer: IngestWriter, valid: list[CanonicalSample], result: SinkResult
) -> None:
    """Some service is past its cardinality limit: one submission per service, so only that
    service's samples are refused."""
    by_service: dict[str, list[CanonicalSample]] = {}
    for sample in valid:
        by_service.setdefault(sample.service_name, []).append(sample)
    groups = list(by_service.values())
    outcomes = await asyncio.gather(
        *(record_canonical(writer, group) for group in groups), return_exceptions=True
    )
    for group, outcome in zip(groups, outcomes, strict=True):
        if isinstance(outcome, CardinalityLimitExceeded):
            for _ in group:
                result.reject(outcome.message)
        elif isinstance(outcome, BaseException):
            raise outcome
        else:
            result.accepted += len(group)
