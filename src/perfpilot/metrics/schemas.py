"""Request and response shapes of the metrics endpoints."""

from __future__ import annotations

import math
import re
import time
import uuid
from datetime import UTC, datetime
from typing import Annotated, Any

import orjson
from pydantic import Field, ValidationInfo, field_validator, model_validator

from perfpilot.core.errors import LONE_SURROGATE_MESSAGE
from perfpilot.core.schemas import CamelModel
from perfpilot.metrics.histogram_schemas import (
    MAX_INTERVAL_SECONDS,
    HistogramIn,
    HistogramOut,
    canonical_histogram,
)
from perfpilot.metrics.labels import Labels
from perfpilot.metrics.units import (
    REGISTRY,
    VALUE_BOUND,
    MetricType,
    UnitError,
    bound_error,
    conversion_factor,
    range_error,
)

SERVICE_NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,99}$"
ServiceName = Annotated[
    str,
    Field(
        min_length=1,
        max_length=100,
        pattern=SERVICE_NAME_PATTERN,
        description="1-100 chars of [A-Za-z0-9._:-], starting alphanumeric",
        examples=["ai-chat-service"],
    ),
]
MAX_METADATA_BYTES = 8 * 1024
MAX_FUTURE_SKEW_SECONDS = 300.0
MAX_BATCH_SAMPLES = 10_000


# A str holding a code point in U+D800..U+DFFF came from a lone "\\ud800"-style JSON escape
# (a well-formed pair decodes to one code point): it is not Unicode text and cannot be stored.
_SURROGATE = re.compile(r"[\ud800-\udfff]")


def surrogate_path(value: Any, path: str) -> str | None:
    """Where the first string (key or value) holding a lone surrogate is, or None."""
    if isinstance(value, str):
        return path if _SURROGATE.search(value) else None
    items: Any = ()
    if isinstance(value, dict):
        for key in value:
            if _SURROGATE.search(key):
                return f"{path} key {key!a}"
        items = value.items()
    elif isinstance(value, list):
        items = enumerate(value)
    for key, item in items:
        found = surrogate_path(item, f"{path}.{key}")
        if found:
            return found
    return None


def metadata_json(metadata: dict[str, Any]) -> bytes:
    """Metadata as stored (compact JSON); ValueError when it is too big or not storable."""
    try:
        raw = orjson.dumps(metadata)
    except orjson.JSONEncodeError as exc:  # > 64-bit integers, lone surrogates, deep nesting
        where = surrogate_path(metadata, "metadata")
        if where:
            raise ValueError(f"{where} {LONE_SURROGATE_MESSAGE}") from None
        raise ValueError(f"metadata cannot be stored as JSON: {exc}") from None
    if len(raw) > MAX_METADATA_BYTES:
        raise ValueError(f"metadata must serialise to at most {MAX_METADATA_BYTES} bytes")
    if b"\\u0000" in raw:  # PostgreSQL's JSONB cannot store NUL: refuse it on every backend
        raise ValueError("metadata strings must not contain NUL (\\u0000)")
    if b"null" in raw and _has_non_finite(metadata):  # orjson writes NaN/Infinity as null
        raise ValueError("metadata must not contain NaN or Infinity")
    return raw


def _has_non_finite(value: Any) -> bool:
    if isinstance(value, float):
        return not math.isfinite(value)
    if isinstance(value, dict):
        return any(_has_non_finite(v) for v in value.values())
    if isinstance(value, list):
        return any(_has_non_finite(v) for v in value)
    return False


class MetricIn(CamelModel):
    """One sample: a `value`, or a `histogram` of an interval's observations. `unit` is
    optional (canonical assumed); values, bounds and sums are stored canonical.

    Field order matters: metricType and unit are validated before histogram and value, so
    their validators can convert and range-check them and name their field in errors, and
    value's validator knows whether a histogram came instead.
    """

    service_name: ServiceName
    metric_type: MetricType
    unit: str | None = Field(default=None, max_length=16, examples=["ms"])
    histogram: HistogramIn | None = Field(
        default=None,
        description="Instead of value: bucket counts of the interval ending at timestamp "
        "(see README, Histogram samples)",
    )
    interval_seconds: float | None = Field(
        default=None,
        gt=0,
        le=MAX_INTERVAL_SECONDS,
        allow_inf_nan=False,
        description="Length of the histogram's interval (histogram samples only)",
    )
    value: float | None = Field(
        default=None,
        validate_default=True,  # absent: checked against histogram
        strict=True,  # a JSON number: "100" and true are rejected, not coerced
        examples=[1500],
        description="Required unless histogram is given. A JSON number (not a string or "
        "boolean), in `unit`; once converted to the canonical unit it must be finite with "
        f"|value| <= {VALUE_BOUND:g}, and in the type's range",
    )
    timestamp: datetime | None = Field(
        default=None, description="ISO 8601; server time when absent; naive means UTC"
    )
    metadata: dict[str, Any] = Field(default_factory=dict, examples=[{"model": "gpt-4"}])
    labels: Labels = Field(default_factory=dict)

    @field_validator("unit")
    @classmethod
    def _unit_accepted(cls, unit: str | None, info: ValidationInfo) -> str | None:
        metric_type = info.data.get("metric_type")
        if unit is not None and metric_type is not None:
            try:
                conversion_factor(metric_type, unit)
            except UnitError as exc:
                raise ValueError(str(exc)) from None
        return unit

    @field_validator("histogram")
    @classmethod
    def _histogram_canonical(
        cls, histogram: HistogramIn | None, info: ValidationInfo
    ) -> HistogramIn | None:
        metric_type = info.data.get("metric_type")
        if histogram is None or metric_type is None or "unit" not in info.data:
            return histogram
        return canonical_histogram(metric_type, info.data["unit"], histogram)

    @field_validator("interval_seconds")
    @classmethod
    def _interval_of_a_histogram(cls, seconds: float | None, info: ValidationInfo) -> float | None:
        # (an invalid histogram is absent from info.data: its own error says enough)
        if seconds is not None and "histogram" in info.data and info.data["histogram"] is None:
            raise ValueError("intervalSeconds applies to histogram samples only")
        return seconds

    @field_validator("value")
    @classmethod
    def _value_canonical(cls, value: float | None, info: ValidationInfo) -> float | None:
        if value is None:
            if "histogram" in info.data and info.data["histogram"] is None:
                raise ValueError("value is required (or, instead, histogram)")
            return None
        if info.data.get("histogram") is not None:
            raise ValueError("a sample carries value or histogram, not both")
        if not math.isfinite(value):
            raise ValueError("value must be a finite number (NaN and Infinity are rejected)")
        metric_type = info.data.get("metric_type")
        if metric_type is None or "unit" not in info.data:
            return value  # the type or unit error is reported on its own field
        canonical = value * conversion_factor(metric_type, info.data["unit"])
        problem = bound_error(canonical)  # DESIGN §9: |v| <= 1e15 keeps aggregates finite
        if problem:
            raise ValueError(f"value {problem}")
        problem = range_error(metric_type, canonical)
        if problem:
            raise ValueError(problem)
        return canonical

    @field_validator("timestamp")
    @classmethod
    def _timestamp_not_future(cls, ts: datetime | None) -> datetime | None:
        if ts is None:
            return None
        try:
            ts = ts.replace(tzinfo=UTC) if ts.tzinfo is None else ts.astimezone(UTC)
            epoch = ts.timestamp()
        except (OverflowError, ValueError):
            raise ValueError("timestamp is outside the representable range of UTC times") from None
        if epoch > time.time() + MAX_FUTURE_SKEW_SECONDS:
            raise ValueError("timestamp is more than 5 minutes in the future")
        return ts

    @field_validator("metadata")
    @classmethod
    def _metadata_small(cls, metadata: dict[str, Any]) -> dict[str, Any]:
        if metadata:
            metadata_json(metadata)
        return metadata

    @model_validator(mode="after")
    def _canonical_unit(self) -> MetricIn:
        self.unit = REGISTRY[self.metric_type].canonical
        return self


class MetricBatchIn(CamelModel):
    """Up to 10,000 samples, validated whole: one bad item rejects the batch."""

    samples: list[MetricIn] = Field(min_length=1, max_length=MAX_BATCH_SAMPLES)


class MetricOut(CamelModel):
    id: uuid.UUID
    service_name: str
    metric_type: str
    value: float | None = Field(
        description="The sample's value; for a histogram sample the interval's mean "
        "(sum / count), null when it counted no observation"
    )
    histogram: HistogramOut | None = Field(
        default=None, description="Histogram samples only: their buckets, canonical unit"
    )
    interval_seconds: float | None = Field(default=None, description="Histogram samples only")
    unit: str
    timestamp: datetime
    metadata: dict[str, Any]
    labels: dict[str, str] = Field(description="The sample's labels ({} when it has none)")


class BatchResult(CamelModel):
    accepted: int
    ids: list[uuid.UUID]
