"""OTLP metrics (opentelemetry-proto messages) -> source points, and the OTLP response.

Gauges and non-monotonic sums come out as `NumberPoints` (one per metric, its points read as
they are converted), every other point as a `SourcePoint`.

Decoding is opentelemetry-proto's: `ParseFromString` for application/x-protobuf, protobuf's
`json_format` for application/json (the OTLP JSON mapping: lowerCamelCase names, 64-bit
integers as strings or numbers, enums as integers).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator, Sequence

from google.protobuf import json_format
from google.protobuf.message import DecodeError
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceRequest,
    ExportMetricsServiceResponse,
)
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.metrics.v1.metrics_pb2 import (
    AGGREGATION_TEMPORALITY_DELTA,
    ExponentialHistogramDataPoint,
    Metric,
    NumberDataPoint,
)

from perfpilot.collection.convert import Conversion, NumberPoints, Pairs, Shape, SourcePoint

PROTOBUF = "application/x-protobuf"
JSON = "application/json"
UNKNOWN_SERVICE = "unknown_service"
MAX_MESSAGE_CHARS = 1000


class MalformedExport(ValueError):
    """The body is not an ExportMetricsServiceRequest in its declared encoding."""


def decode_request(body: bytes, media_type: str) -> ExportMetricsServiceRequest:
    request = ExportMetricsServiceRequest()
    try:
        if media_type == JSON:
            if not body.lstrip().startswith(b"{"):
                raise MalformedExport("an OTLP JSON body must be a JSON object")
            json_format.Parse(body, request, ignore_unknown_fields=True)
        else:
            request.ParseFromString(body)
    except (DecodeError, json_format.ParseError, ValueError, TypeError, RecursionError) as exc:
        kind = "OTLP JSON" if media_type == JSON else "OTLP protobuf"
        message = f"body is not a valid {kind} ExportMetricsServiceRequest: {exc}"
        raise MalformedExport(message) from None
    return request


def encode_response(conversion: Conversion, media_type: str) -> bytes:
    """ExportMetricsServiceResponse; partial_success only when something was rejected."""
    response = ExportMetricsServiceResponse()
    if conversion.rejected:
        message = "; ".join(conversion.reasons)
        response.partial_success.rejected_data_points = conversion.rejected
        response.partial_success.error_message = message[:MAX_MESSAGE_CHARS]
    if media_type == JSON:
        return json_format.MessageToJson(response, indent=None).encode()
    return response.SerializeToString()


def _text(value: AnyValue) -> str:
    kind = value.WhichOneof("value")
    if kind is None:
        return ""
    if kind == "string_value":
        return value.string_value
    if kind == "bool_value":
        return "true" if value.bool_value else "false"
    if kind == "int_value":
        return str(value.int_value)
    if kind == "double_value":
        return repr(value.double_value)
    if kind == "bytes_value":
        return value.bytes_value.hex()
    # arrays and maps: their JSON text, as the OTLP JSON mapping writes them
    return json_format.MessageToJson(value, indent=None)


def _attributes(pairs: Iterable[KeyValue]) -> dict[str, str]:
    attributes: dict[str, str] = {}
    for pair in pairs:
        value = pair.value
        # strings are nearly every attribute: read them without the oneof dispatch
        text = value.string_value
        attributes[pair.key] = text if text else _text(value)
    return attributes


def _pairs(pairs: Iterable[KeyValue]) -> Pairs:
    """The attributes as (key, text) pairs: `_attributes` without the dict."""
    return tuple([(p.key, p.value.string_value or _text(p.value)) for p in pairs])


def _numbers(points: Sequence[NumberDataPoint]) -> Iterator[tuple[Pairs, float, float]]:
    for p in points:
        number = p.as_double if p.WhichOneof("value") == "as_double" else float(p.as_int)
        yield _pairs(p.attributes), p.time_unix_nano / 1e9, number


def _power(index: int, scale: int) -> float:
    """base^index with base = 2^(2^-scale), exact whenever it is a power of two (a value on a
    bucket edge then falls in the bucket the SDK put it in)."""
    if scale <= 0:
        return math.ldexp(1.0, index << -scale)
    whole, part = divmod(index, 1 << scale)
    return math.ldexp(2.0 ** (part / (1 << scale)), whole)


def exponential_buckets(
    point: ExponentialHistogramDataPoint,
) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """Explicit bounds and per-bucket counts of an exponential histogram point.

    Bucket i of the positive range holds (base^(offset+i), base^(offset+i+1)] with
    base = 2^(2^-scale). Zero and negative observations go into the first bucket
    (<= zero_threshold): Perfpilot's histogram types measure non-negative quantities.
    """
    scale = point.scale
    offset = point.positive.offset
    positive = list(point.positive.bucket_counts)
    low = float(point.zero_threshold)
    bounds: list[float] = [low]
    counts: list[float] = [float(point.zero_count + sum(point.negative.bucket_counts))]
    if positive:
        try:
            first = _power(offset, scale)
            if first > low:
                bounds.append(first)
                counts.append(0.0)
            for i, n in enumerate(positive):
                upper = _power(offset + i + 1, scale)
                if not math.isfinite(upper) or upper <= bounds[-1]:
                    raise MalformedExport("exponential histogram buckets out of range")
                bounds.append(upper)
                counts.append(float(n))
        except OverflowError:
            raise MalformedExport("exponential histogram buckets out of range") from None
    counts.append(0.0)  # above the last bound
    return tuple(bounds), tuple(counts)


def _points(metric: Metric, service: str) -> Iterator[SourcePoint | NumberPoints]:
    field = metric.WhichOneof("data")
    unit = metric.unit or None
    name = metric.name
    if field == "gauge" or (field == "sum" and not metric.sum.is_monotonic):
        data = metric.gauge if field == "gauge" else metric.sum
        points = data.data_points
        yield NumberPoints(service, name, unit, _numbers(points), len(points))
    elif field == "sum":
        delta = metric.sum.aggregation_temporality == AGGREGATION_TEMPORALITY_DELTA
        shape: Shape = "delta_counter" if delta else "counter"
        for p in metric.sum.data_points:
            number = p.as_double if p.WhichOneof("value") == "as_double" else float(p.as_int)
            yield SourcePoint(
                service,
                name,
                _attributes(p.attributes),
                shape,
                p.time_unix_nano / 1e9,
                p.start_time_unix_nano / 1e9,
                number,
                unit=unit,
            )
    elif field == "histogram" or field == "exponential_histogram":
        histogram = metric.histogram if field == "histogram" else metric.exponential_histogram
        delta = histogram.aggregation_temporality == AGGREGATION_TEMPORALITY_DELTA
        shape = "delta_histogram" if delta else "histogram"
        for h in histogram.data_points:
            if isinstance(h, ExponentialHistogramDataPoint):
                bounds, counts = exponential_buckets(h)
            else:
                bounds = tuple(h.explicit_bounds)
                counts = tuple(float(c) for c in h.bucket_counts)
                if not counts:  # no buckets: one bucket holding every observation
                    bounds, counts = (), (float(h.count),)
            yield SourcePoint(
                service,
                name,
                _attributes(h.attributes),
                shape,
                h.time_unix_nano / 1e9,
                h.start_time_unix_nano / 1e9,
                h.sum,
                bounds,
                counts,
                float(h.count),
                unit,
            )


def source_points(
    request: ExportMetricsServiceRequest, out: Conversion
) -> Iterator[SourcePoint | NumberPoints]:
    """Every data point of the export; summaries (no percentile can merge them) and points
    the structure forbids are counted as rejected in `out`."""
    for resource_metrics in request.resource_metrics:
        resource = _attributes(resource_metrics.resource.attributes)
        service = resource.get("service.name") or UNKNOWN_SERVICE
        for scope_metrics in resource_metrics.scope_metrics:
            for metric in scope_metrics.metrics:
                field = metric.WhichOneof("data")
                if field == "summary" or field is None:
                    message = "summaries are not accepted (their quantiles cannot be merged)"
                    out.reject(f"{metric.name}: {message}", len(metric.summary.data_points))
                    continue
                if field == "histogram":
                    points = metric.histogram.data_points
                    if any(
                        len(p.bucket_counts) not in (0, len(p.explicit_bounds) + 1) for p in points
                    ):
                        message = "bucket_counts must have one more entry than explicit_bounds"
                        out.reject(f"{metric.name}: {message}", len(points))
                        continue
                try:
                    if field == "exponential_histogram":  # all its points or none of them
                        yield from list(_points(metric, service))
                    else:
                        yield from _points(metric, service)
                except MalformedExport as exc:
                    out.reject(f"{metric.name}: {exc}")
