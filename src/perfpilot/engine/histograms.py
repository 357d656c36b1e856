"""Histogram samples in a rule window: merged buckets, `histogram_quantile` percentiles.

A histogram sample counts the observations of one interval in buckets: `counts[i]` lie in
`(bounds[i-1], bounds[i]]`, the first bucket below `bounds[0]`, the last above `bounds[-1]`
(+Inf). Percentiles follow Prometheus' `histogram_quantile`: the rank's bucket is found in the
cumulative counts and the value interpolated linearly inside it; the first bucket starts at 0
when its upper bound is positive (else the bound itself is the answer), and a rank in the +Inf
bucket answers the highest finite bound. Merging windows of histograms adds their counts;
when bucket layouts differ, each bucket's count is spread over the union's buckets in
proportion to their width (the same uniform-within-a-bucket assumption the interpolation
makes), so the merged percentile is that of the sum of the histograms' distributions.

Pure: no I/O, no clock.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

from perfpilot.engine.windows import DEFAULT_WINDOW_CAP, PERCENTILES, SlidingWindow

_COMPACT_MIN: Final = 64


@dataclass(frozen=True, slots=True)
class Histogram:
    """One interval's distribution, bounds and sum in the canonical unit of its type."""

    bounds: tuple[float, ...]  # strictly increasing, finite; the +Inf bucket is implicit
    counts: tuple[int, ...]  # len(bounds) + 1
    sum: float
    count: int

    @property
    def mean(self) -> float | None:
        return self.sum / self.count if self.count else None


def merge(histograms: Sequence[Histogram]) -> tuple[tuple[float, ...], list[float]]:
    """Bounds and counts of the histograms' merged distribution (see the module docstring).

    Counts are fractional only when layouts differ. Needs at least one histogram.
    """
    first = histograms[0].bounds
    if all(h.bounds == first for h in histograms):
        totals = [0.0] * (len(first) + 1)
        for h in histograms:
            for i, n in enumerate(h.counts):
                totals[i] += n
        return first, totals
    union = sorted({b for h in histograms for b in h.bounds})
    if union[0] < 0 < max(h.bounds[0] for h in histograms):
        # a first bucket (0, b] must not be spread over a union bucket that straddles 0
        union = sorted({*union, 0.0})
    bounds = tuple(union)
    totals = [0.0] * (len(bounds) + 1)
    for h in histograms:
        _spread(h, bounds, totals)
    return bounds, totals


def _spread(h: Histogram, bounds: tuple[float, ...], totals: list[float]) -> None:
    """Add h's counts to `totals` over `bounds` (a superset of h's bounds)."""
    for i, n in enumerate(h.counts):
        if not n:
            continue
        if i == len(h.bounds):  # +Inf
            totals[-1] += n
            continue
        hi = h.bounds[i]
        end = bisect_left(bounds, hi)  # bounds[end] == hi
        if i == 0 and hi <= 0:  # no lower edge: the mass sits at the bound
            totals[end] += n
            continue
        lo = h.bounds[i - 1] if i else 0.0
        start = bisect_right(bounds, lo)  # first union bucket above lo
        width = hi - lo
        for j in range(start, end + 1):
            top = bounds[j]
            bottom = bounds[j - 1] if j else 0.0
            totals[j] += n * (top - max(bottom, lo)) / width


def quantile(q: float, bounds: Sequence[float], counts: Sequence[float]) -> float | None:
    """Prometheus `histogram_quantile(q)` of one histogram; None when it is empty."""
    total = sum(counts)
    if not total > 0:
        return None
    rank = q * total
    below = 0.0
    for b, n in enumerate(counts[:-1]):
        if below + n >= rank:
            if b == 0 and bounds[0] <= 0:
                return bounds[0]
            start = bounds[b - 1] if b else 0.0
            return start + (bounds[b] - start) * ((rank - below) / n if n else 0.0)
        below += n
    return bounds[-1]  # the rank is in the +Inf bucket


def lowest(bounds: Sequence[float], counts: Sequence[float]) -> float | None:
    """The lower edge of the first non-empty bucket: the least value the data allows."""
    for b, n in enumerate(counts):
        if n > 0:
            if b == 0:
                return bounds[0] if bounds[0] <= 0 else 0.0
            return bounds[b - 1]
    return None


def histogram_aggregate(kind: str, histograms: Sequence[Histogram]) -> float | None:
    """A rule aggregation over histogram samples: percentiles merged and interpolated,
    avg = Σsum / Σcount, count = Σcount, sum = Σsum, min/max the edges of the outer non-empty
    buckets, last = the newest interval's mean. None when there are no observations."""
    if kind == "count":
        return float(sum(h.count for h in histograms))
    if not histograms:
        return None
    if kind == "last":
        return histograms[-1].mean
    observations = sum(h.count for h in histograms)
    if kind == "sum":
        return sum(h.sum for h in histograms)
    if not observations:
        return None
    if kind == "avg":
        return sum(h.sum for h in histograms) / observations
    bounds, counts = merge(histograms)
    if kind == "min":
        return lowest(bounds, counts)
    if kind == "max":
        return quantile(1.0, bounds, counts)
    return quantile(PERCENTILES[kind], bounds, counts)


class HistogramWindow:
    """Time-ordered histogram samples of one series, bounded in age like its SlidingWindow."""

    __slots__ = ("_hists", "_start", "_ts", "cap", "horizon")

    def __init__(self, horizon: float, *, cap: int = DEFAULT_WINDOW_CAP) -> None:
        self.horizon = horizon
        self.cap = cap
        self._ts: list[float] = []
        self._hists: list[Histogram] = []
        self._start = 0

    def __len__(self) -> int:
        return len(self._ts) - self._start

    def add(self, ts: float, histogram: Histogram) -> None:
        times = self._ts
        if not times or ts >= times[-1]:
            times.append(ts)
            self._hists.append(histogram)
        else:
            pos = bisect_right(times, ts, self._start)
            times.insert(pos, ts)
            self._hists.insert(pos, histogram)
        start = bisect_left(times, times[-1] - self.horizon, self._start)
        start = max(start, len(times) - self.cap)
        if start >= _COMPACT_MIN and start * 2 >= len(times):
            del times[:start]
            del self._hists[:start]
            start = 0
        self._start = start

    def between(self, window: float, now: float) -> list[Histogram]:
        """The samples with now - window < ts <= now, oldest first."""
        times = self._ts
        hi = bisect_right(times, now, self._start)
        lo = bisect_right(times, now - window, self._start, hi)
        return self._hists[lo:hi]


def percentile_basis(
    histograms: HistogramWindow | None, aggregation: str, *, span: float, now: float
) -> str | None:
    """What a percentile aggregation at `now` was computed from: "histogram" (the window's
    histogram samples merged) or "samples" (the values); None for other aggregations."""
    if aggregation not in PERCENTILES:
        return None
    return "histogram" if histograms is not None and histograms.between(span, now) else "samples"


def series_aggregate(
    window: SlidingWindow,
    histograms: HistogramWindow | None,
    kind: str,
    *,
    span: float,
    now: float,
) -> float | None:
    """A rule aggregate over a series: over its histogram samples when the window holds any
    (values pushed alongside are then not mixed in), else over its values."""
    if histograms is not None:
        found = histograms.between(span, now)
        if found:
            return histogram_aggregate(kind, found)
    return window.aggregate(kind, window=span, now=now)
