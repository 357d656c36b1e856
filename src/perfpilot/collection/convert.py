"""Source points -> collected samples, through the mapping table: the shared core of the OTLP
receiver and the scraper (pure: no I/O; state is the caller's CumulativeState).

Each source decodes its wire format into `SourcePoint`s (name, attributes, shape, totals);
`convert_points` maps names to registry types, attributes to labels, and cumulative totals to
per-interval values as the entry's kind says. Gauge points, the bulk of an OTLP export, may
come as `NumberPoints` instead (one object per metric, plain tuples per point): mapped to a
gauge type they become canonical samples directly, validated on the way (`SampleCheck`), as
one object per point like the JSON batch path.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Hashable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Literal

from perfpilot.collection.cumulative import CumulativeState, Increase
from perfpilot.collection.mapping import MappingEntry, MappingTable, PresetSpec
from perfpilot.collection.samples import (
    CollectedSample,
    Histogram,
    LabelError,
    check_labels,
    label_key,
)
from perfpilot.collection.validation import Kind, SampleCheck
from perfpilot.metrics.canonical import CanonicalSample

# number: a gauge (or non-monotonic sum); counter: monotonic cumulative totals;
# delta_counter / delta_histogram: OTLP delta temporality; histogram: cumulative buckets
Shape = Literal["number", "counter", "delta_counter", "histogram", "delta_histogram"]
MAX_REASONS = 5
# a point's attributes as (key, value) pairs, in the source's order
Pairs = tuple[tuple[str, str], ...]


@dataclass(slots=True)
class SourcePoint:
    service_name: str
    name: str
    attributes: dict[str, str]
    shape: Shape
    time: float  # seconds since the epoch
    start: float = 0.0  # 0 = unknown
    value: float = 0.0  # the number, the counter total, or the histogram's sum
    bounds: tuple[float, ...] = ()
    counts: tuple[float, ...] = ()
    count: float = 0.0
    unit: str | None = None


@dataclass(slots=True)
class NumberPoints:
    """The points of one gauge (or non-monotonic sum) as (attributes, time, value) tuples,
    read lazily from the source's own structures: no object per point before the canonical
    sample. `size` is how many there are (all of them are refused at once when unmapped)."""

    service_name: str
    name: str
    unit: str | None
    points: Iterator[tuple[Pairs, float, float]]
    size: int


@dataclass(slots=True)
class Conversion:
    samples: list[CollectedSample] = field(default_factory=list)
    ready: list[CanonicalSample] = field(default_factory=list)  # validated by the SampleCheck
    rejected: int = 0
    reasons: list[str] = field(default_factory=list)
    unmapped: Counter[str] = field(default_factory=Counter)

    def reject(self, reason: str, points: int = 1) -> None:
        self.rejected += points
        if len(self.reasons) < MAX_REASONS and reason not in self.reasons:
            self.reasons.append(reason)

    def merge(self, other: Conversion) -> None:
        self.samples.extend(other.samples)
        self.ready.extend(other.ready)
        self.unmapped.update(other.unmapped)
        for reason in other.reasons:
            self.reject(reason, 0)
        self.rejected += other.rejected


@dataclass(frozen=True, slots=True)
class ConvertOptions:
    table: MappingTable
    preset: PresetSpec = field(default_factory=PresetSpec)
    extra_labels: dict[str, str] = field(default_factory=dict)  # a target's labels
    key_prefix: Hashable = "otlp"  # separates the cumulative state of each source
    # whether `unit` is accepted for a registry type (the registry's conversion table)
    unit_ok: Callable[[str, str], bool] = lambda _type, _unit: False


_NEEDS: dict[str, tuple[Shape, ...]] = {
    "gauge": ("number", "counter", "delta_counter"),
    "rate": ("counter", "delta_counter"),
    "delta": ("counter", "delta_counter"),
    "ratio": ("counter", "delta_counter"),
    "histogram": ("histogram", "delta_histogram"),
    "histogram_sum": ("histogram", "delta_histogram"),
}


def _labels(
    attributes: dict[str, str], entry: MappingEntry, options: ConvertOptions
) -> dict[str, str]:
    rename = options.preset.labels
    drop = options.preset.drop
    labels: dict[str, str] = {}
    for key, value in attributes.items():
        if key == entry.split or key in drop or value == "":
            continue
        labels[rename.get(key) or label_key(key)] = value
    labels.update(options.extra_labels)
    return labels


def _series_key(options: ConvertOptions, point: SourcePoint) -> Hashable:
    return (options.key_prefix, point.service_name, point.name, frozenset(point.attributes.items()))


def _increase(state: CumulativeState, key: Hashable, point: SourcePoint) -> Increase | None:
    if point.shape == "counter":
        return state.counter(key, start=point.start, time=point.time, value=point.value)
    if point.shape == "histogram":
        return state.histogram(
            key,
            start=point.start,
            time=point.time,
            bounds=point.bounds,
            counts=point.counts,
            total=point.value,
            count=point.count,
        )
    # delta temporality: the point is the increase over [start, time]
    interval = point.time - point.start if point.start > 0 else 0.0
    if point.shape == "delta_counter":
        return Increase(point.value, interval)
    return Increase(
        point.value,
        interval,
        Histogram(
            bounds=list(point.bounds),
            counts=[round(c) for c in point.counts],
            sum=point.value,
            count=round(point.count),
        ),
    )


def convert_points(
    points: Iterable[SourcePoint | NumberPoints],
    state: CumulativeState,
    options: ConvertOptions,
    *,
    check: SampleCheck | None = None,
) -> Conversion:
    """Collected samples for the mapped points, canonical ones (validated by `check`) for
    mapped `NumberPoints`; the others are counted with a reason."""
    out = Conversion()
    check = check or SampleCheck()
    table = options.table
    denominators = {_base(n) for e in table.by_name.values() for n in e.denominator}
    # counter increases by (service, name, attributes): the ratios' denominators
    increases: dict[tuple[str, str, frozenset[tuple[str, str]]], float] = {}
    ratios: list[_Ratio] = []
    # (name, unit, attributes) -> (type, labels, unit) or why refused: once per series
    described: dict[tuple[str, str | None, tuple[tuple[str, str], ...]], _Series | str] = {}
    # name -> (entry, whether a ratio divides by it): looked up once per name
    names: dict[str, tuple[MappingEntry | None, bool]] = {}
    # (service, name, unit) -> attributes -> a gauge series checked once, or why refused
    gauges: dict[tuple[str, str, str | None], dict[Pairs, _Gauge | str]] = {}
    for point in points:
        known = names.get(point.name)
        if known is None:
            known = names[point.name] = (
                table.lookup(point.name),
                _base(point.name) in denominators,
            )
        entry, is_denominator = known
        if isinstance(point, NumberPoints):
            if entry is None or entry.kind != "gauge":
                _refuse_numbers(point, entry, is_denominator, out)
            else:
                checked = gauges.setdefault((point.service_name, point.name, point.unit), {})
                _convert_numbers(point, entry, checked, options, check, out)
            continue
        counted: Increase | None = None
        if point.shape in ("counter", "delta_counter") and (entry is not None or is_denominator):
            counted = _increase(state, _series_key(options, point), point)
            if counted is not None:
                ident = (point.service_name, _base(point.name), frozenset(point.attributes.items()))
                increases[ident] = counted.value
        if entry is None:
            if not is_denominator:
                out.unmapped[point.name] += 1
                out.reject(f"metric {point.name!r} is not mapped to a Perfpilot metric type")
            continue
        if point.shape not in _NEEDS[entry.kind]:
            out.reject(f"{point.name}: a {point.shape} point cannot give a {entry.kind} value")
            continue
        key = (point.name, point.unit, tuple(point.attributes.items()))  # same order, same set
        series = described.get(key)
        if series is None:
            series = described[key] = _describe(
                point.name, point.attributes, point.unit, entry, options
            )
        if isinstance(series, str):
            out.reject(series)
            continue
        sample = CollectedSample(
            service_name=point.service_name,
            metric_type=series.metric_type,
            unit=series.unit,
            timestamp=datetime.fromtimestamp(point.time, UTC),
            labels=series.labels,
            source=point.name,
        )
        if entry.kind == "gauge":  # a number, or a counter read as its current total
            sample.value = point.value
            out.samples.append(sample)
            continue
        if counted is None and entry.kind in ("histogram", "histogram_sum"):
            counted = _increase(state, _series_key(options, point), point)
        if counted is None:
            continue  # primed: the next report gives an interval
        if entry.kind == "ratio":
            sample.interval_seconds = counted.interval_seconds or None
            ratios.append(_Ratio(sample, point, entry, counted.value))
        elif _fill(sample, entry, counted, out):
            out.samples.append(sample)
    for ratio in ratios:
        attrs = frozenset(ratio.point.attributes.items())
        service = ratio.point.service_name
        total = sum(increases.get((service, _base(d), attrs), 0.0) for d in ratio.entry.denominator)
        if total > 0:  # else nothing happened in the interval: no ratio
            ratio.sample.value = ratio.numerator / total
            out.samples.append(ratio.sample)
    return out


@dataclass(slots=True)
class _Ratio:
    sample: CollectedSample
    point: SourcePoint
    entry: MappingEntry
    numerator: float


def _base(name: str) -> str:
    return name[: -len("_total")] if name.endswith("_total") else name


@dataclass(frozen=True, slots=True)
class _Series:
    metric_type: str
    labels: dict[str, str]  # shared by the series' samples: never changed once made
    unit: str | None


def _describe(
    name: str,
    attributes: dict[str, str],
    unit: str | None,
    entry: MappingEntry,
    options: ConvertOptions,
) -> _Series | str:
    """The type, labels and unit of a series, or why its points are refused."""
    metric_type = entry.type_for(attributes)
    if metric_type is None:
        shown = attributes.get(entry.split or "", "")
        return f"{name}: {entry.split}={shown!r} is not one of {sorted(entry.types)}"
    labels = _labels(attributes, entry, options)
    try:
        check_labels(labels)
    except LabelError as exc:
        return f"{name}: {exc}"
    if not (unit and options.unit_ok(metric_type, unit)):
        unit = entry.unit
    return _Series(metric_type, labels, unit)


@dataclass(frozen=True, slots=True)
class _Gauge:
    """A gauge series checked once: what each of its points needs to become canonical."""

    metric_type: str
    labels: dict[str, str]
    kind: Kind


def _refuse_numbers(
    block: NumberPoints, entry: MappingEntry | None, is_denominator: bool, out: Conversion
) -> None:
    """Count a block of number points that no gauge type takes, as the point path does."""
    if not block.size:
        return
    if entry is None:
        if not is_denominator:
            out.unmapped[block.name] += block.size
            message = f"metric {block.name!r} is not mapped to a Perfpilot metric type"
            out.reject(message, block.size)
        return
    out.reject(f"{block.name}: a number point cannot give a {entry.kind} value", block.size)


def _convert_numbers(
    block: NumberPoints,
    entry: MappingEntry,
    series: dict[Pairs, _Gauge | str],
    options: ConvertOptions,
    check: SampleCheck,
    out: Conversion,
) -> None:
    """Gauge points straight to validated canonical samples (`series`: the checked ones)."""
    name = block.name
    service = block.service_name
    number = check.number
    ready = out.ready
    for pairs, time, value in block.points:
        gauge = series.get(pairs)
        if gauge is None:
            gauge = series[pairs] = _gauge(block, dict(pairs), entry, options, check)
        if isinstance(gauge, str):
            out.reject(gauge)
            continue
        sample = number(
            gauge.kind,
            where=name,
            service_name=service,
            metric_type=gauge.metric_type,
            value=value,
            timestamp=datetime.fromtimestamp(time, UTC),
            labels=gauge.labels,
        )
        if isinstance(sample, str):
            out.reject(sample)
        else:
            ready.append(sample)


def _gauge(
    block: NumberPoints,
    attributes: dict[str, str],
    entry: MappingEntry,
    options: ConvertOptions,
    check: SampleCheck,
) -> _Gauge | str:
    described = _describe(block.name, attributes, block.unit, entry, options)
    if isinstance(described, str):
        return described
    kind = check.kind(block.service_name, described.metric_type, described.unit, block.name)
    if isinstance(kind, str):
        return kind
    return _Gauge(described.metric_type, described.labels, kind)


def _fill(sample: CollectedSample, entry: MappingEntry, inc: Increase, out: Conversion) -> bool:
    """Set the sample's value (or histogram) from an increase; False when there is none."""
    sample.interval_seconds = inc.interval_seconds or None
    if entry.kind == "rate":
        if inc.interval_seconds <= 0:
            out.reject(f"{sample.source}: a rate needs the interval's start time")
            return False
        sample.value = inc.value / inc.interval_seconds
    elif entry.kind in ("delta", "histogram_sum"):
        sample.value = inc.value
    elif entry.kind == "histogram":
        if inc.histogram is None or inc.histogram.count <= 0:
            return False  # no observation in the interval: no distribution to store
        sample.histogram = inc.histogram
    return True
