"""Validated samples in canonical form, and the fast way to get them out of a batch body.

`MetricIn` (schemas.py) is the reference: it defines what is valid and every error message.
Through it, a batch of 10,000 samples costs a json.loads and five Python validator calls per
sample. So `parse_batch` has pydantic-core parse the JSON bytes straight into a lean schema
without Python validators (the same fields, types and constraints), then checks units, ranges,
timestamps and metadata in one plain loop. When everything passes, the result is what
`MetricIn` gives; when anything does not, the body is parsed and validated again the reference
way, which accepts or rejects it with exactly the errors it always did. Valid batches take the
fast path; only invalid ones pay twice.
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from types import MappingProxyType
from typing import Annotated, Any, Final, NamedTuple, NotRequired

from pydantic import (
    ConfigDict,
    Field,
    GetCoreSchemaHandler,
    TypeAdapter,
    ValidationError,
    with_config,
)
from pydantic_core import core_schema
from typing_extensions import TypedDict

from perfpilot.engine.histograms import Histogram
from perfpilot.metrics.labels import Labels
from perfpilot.metrics.schemas import (
    MAX_BATCH_SAMPLES,
    MAX_FUTURE_SKEW_SECONDS,
    MetricBatchIn,
    MetricIn,
    ServiceName,
    metadata_json,
)
from perfpilot.metrics.units import REGISTRY, VALUE_BOUND

NO_LABELS: Final[Mapping[str, str]] = MappingProxyType({})


class CanonicalSample(NamedTuple):
    """A valid sample: value in the canonical unit, timestamp UTC (None: server time).

    `labels` are valid labels (metrics/labels.py: at most 16, names and values checked).
    A histogram sample carries `histogram` (bounds and sum canonical) and its interval;
    `value` is then the interval's mean (0.0 when it counted nothing: see `observed`).
    This is the one entry point of ingestion for every source (JSON, OTLP, scraping).
    """

    service_name: str
    metric_type: str
    value: float
    unit: str
    timestamp: datetime | None
    metadata: dict[str, Any]
    metadata_json: str  # as stored
    labels: Mapping[str, str] = NO_LABELS
    histogram: Histogram | None = None
    interval_seconds: float | None = None


def validated_sample(data: Mapping[str, Any]) -> CanonicalSample:
    """One sample from its wire form (MetricIn's camelCase fields: a value or a histogram),
    validated and canonical. Raises pydantic.ValidationError, whose errors name the fields.
    For sources other than the JSON API (OTLP, scraping): hand the result to
    metrics.service.record_canonical."""
    return canonical(MetricIn.model_validate(data))


def canonical(sample: MetricIn) -> CanonicalSample:
    """The canonical form of a sample validated by MetricIn."""
    metadata = sample.metadata
    stored = metadata_json(metadata).decode() if metadata else "{}"
    h = sample.histogram
    if h is not None:
        histogram = Histogram(tuple(h.bounds), tuple(h.counts), h.sum, h.count)
        return CanonicalSample(
            sample.service_name,
            sample.metric_type,
            histogram.mean or 0.0,
            sample.unit or "",
            sample.timestamp,
            metadata,
            stored,
            sample.labels or NO_LABELS,
            histogram,
            sample.interval_seconds,
        )
    assert sample.value is not None  # MetricIn: value or histogram
    return CanonicalSample(
        sample.service_name,
        sample.metric_type,
        sample.value,
        sample.unit or "",
        sample.timestamp,
        metadata,
        stored,
        sample.labels or NO_LABELS,
    )


@with_config(ConfigDict(extra="forbid"))
class _LeanSample(TypedDict):
    """MetricIn's wire shape and pydantic-core constraints, without its Python validators."""

    serviceName: ServiceName
    metricType: Annotated[str, Field(min_length=1, max_length=32)]
    unit: NotRequired[Annotated[str, Field(max_length=16)] | None]
    value: Annotated[float, Field(strict=True)]
    timestamp: NotRequired[datetime | None]
    metadata: NotRequired[dict[str, Any]]
    labels: NotRequired[Labels]


@with_config(ConfigDict(extra="forbid"))
class _LeanBatch(TypedDict):
    samples: Annotated[list[_LeanSample], Field(min_length=1, max_length=MAX_BATCH_SAMPLES)]


_LEAN_BATCH: TypeAdapter[_LeanBatch] = TypeAdapter(_LeanBatch)


@dataclass(frozen=True, slots=True)
class _FastTables:
    """The registry's conversions as flat lookups, rebuilt when the registry changes."""

    version: int
    # (metric type, unit as sent) -> factor to the canonical unit: the exact spellings only;
    # any other spelling MetricIn may still accept (e.g. "MS") takes the reference path.
    factors: dict[tuple[str, str | None], float]
    # metric type -> (canonical unit, minimum, maximum): the type's range within +-VALUE_BOUND
    ranges: dict[str, tuple[str, float, float]]


_tables: _FastTables | None = None


def _fast_tables() -> _FastTables:
    global _tables
    tables = _tables
    if tables is not None and tables.version == REGISTRY.version:
        return tables
    factors: dict[tuple[str, str | None], float] = {}
    ranges: dict[str, tuple[str, float, float]] = {}
    for name, spec in REGISTRY.items():
        factors[(name, None)] = factors[(name, spec.canonical)] = 1.0
        for unit, factor in spec.factors.items():
            factors[(name, unit)] = factor
        maximum = VALUE_BOUND if spec.maximum is None else min(spec.maximum, VALUE_BOUND)
        minimum = -VALUE_BOUND if spec.minimum is None else max(spec.minimum, -VALUE_BOUND)
        ranges[name] = (spec.canonical, minimum, maximum)
    tables = _tables = _FastTables(REGISTRY.version, factors, ranges)
    return tables


_LEAN_SAMPLE: TypeAdapter[_LeanSample] = TypeAdapter(_LeanSample)


def parse_batch(raw: bytes) -> list[CanonicalSample] | None:
    """The canonical samples of a batch body (JSON bytes) when every one is valid; None when
    anything fails: the caller then asks MetricBatchIn, the reference, for the verdict."""
    try:
        batch = _LEAN_BATCH.validate_json(raw)
    except ValidationError:
        return None
    return _canonical_items(batch["samples"])


def parse_sample(raw: bytes) -> CanonicalSample | None:
    """The canonical sample of a single-sample body (JSON bytes) when it is valid; None when
    anything fails: the caller then asks MetricIn, the reference, for the verdict."""
    try:
        item = _LEAN_SAMPLE.validate_json(raw)
    except ValidationError:
        return None
    samples = _canonical_items([item])
    return None if samples is None else samples[0]


def _canonical_items(items: list[_LeanSample]) -> list[CanonicalSample] | None:
    """Units, ranges, timestamps and metadata of leanly parsed samples, checked in one loop."""
    latest = time.time() + MAX_FUTURE_SKEW_SECONDS
    isfinite = math.isfinite
    tables = _fast_tables()
    factors = tables.factors
    ranges = tables.ranges
    samples: list[CanonicalSample] = []
    append = samples.append
    try:
        for item in items:
            metric_type = item["metricType"]
            factor = factors.get((metric_type, item.get("unit")))
            value = item["value"]
            if factor is None or not isfinite(value):
                return None
            value *= factor
            unit, minimum, maximum = ranges[metric_type]  # known: it has a factor
            if value < minimum or value > maximum or not isfinite(value):
                return None
            ts = item.get("timestamp")
            if ts is not None:
                ts = ts.replace(tzinfo=UTC) if ts.tzinfo is None else ts.astimezone(UTC)
                if ts.timestamp() > latest:
                    return None
            metadata = item.get("metadata")
            if metadata:
                stored = metadata_json(metadata).decode()
            else:
                metadata, stored = {}, "{}"
            append(
                CanonicalSample(
                    item["serviceName"],
                    metric_type,
                    value,
                    unit,
                    ts,
                    metadata,
                    stored,
                    item.get("labels") or NO_LABELS,
                )
            )
    except (ValueError, OverflowError):  # unstorable metadata, out-of-range datetimes
        return None
    return samples


class IngestBatch:
    """The body of POST /metrics/batch: MetricBatchIn on the wire and in the OpenAPI schema,
    canonical samples once validated.

    Validation accepts an IngestBatch already made by `parse_batch` (see batch_route.py) as is;
    anything else goes through MetricBatchIn.
    """

    __slots__ = ("samples",)

    def __init__(self, samples: list[CanonicalSample]) -> None:
        self.samples = samples

    @classmethod
    def __get_pydantic_core_schema__(
        cls, source: Any, handler: GetCoreSchemaHandler
    ) -> core_schema.CoreSchema:
        return core_schema.no_info_wrap_validator_function(cls._validate, handler(MetricBatchIn))

    @classmethod
    def _validate(
        cls, body: Any, reference: core_schema.ValidatorFunctionWrapHandler
    ) -> IngestBatch:
        if isinstance(body, IngestBatch):
            return body
        batch: MetricBatchIn = reference(body)  # raises the reference errors
        return cls([canonical(sample) for sample in batch.samples])
