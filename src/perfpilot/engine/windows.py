"""Sliding windows of (timestamp, value) points and their aggregations.

Time is float seconds since the epoch (UTC). Every aggregation covers the half-open interval
``(now - window, now]``, so a point exactly ``window`` seconds old is already out.

Overflow: values must be finite, and no aggregate of finite values raises or returns a
non-finite number. Ingestion bounds values to |v| <= 1e15 (DESIGN §9), where prefix sums are
safe; a window holding anything larger (rows written by older versions or by hand) computes
sums and means exactly, scaled by a power of two, and a ``sum`` beyond the largest float
saturates at +/- ``sys.float_info.max``.
"""

from __future__ import annotations

import math
import sys
from bisect import bisect_left, bisect_right, insort
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from itertools import accumulate
from typing import TYPE_CHECKING, Final

if TYPE_CHECKING:
    from perfpilot.engine.histograms import Histogram

AGGREGATIONS: Final = frozenset(
    {"last", "avg", "min", "max", "p50", "p90", "p95", "p99", "sum", "count"}
)
PERCENTILES: Final[dict[str, float]] = {"p50": 0.5, "p90": 0.9, "p95": 0.95, "p99": 0.99}
DEFAULT_WINDOW_CAP: Final = 100_000

# Compaction drops the dead prefix once it is at least this long and half the list, so the
# amortised cost per insert stays O(1) while small windows do not compact on every sample.
_COMPACT_MIN: Final = 64
# Below this many points min/max/percentiles work on a fresh slice: cheaper than keeping a
# sorted view in step.
_SORTED_VIEW_MIN: Final = 32
# Below this many points a sum is computed exactly (fsum) instead of from prefix sums, so the
# common small windows carry no cancellation error at all.
_EXACT_SUM_MAX: Final = 64
# Prefix sums are used only while every kept value is within this bound (DESIGN §9): then even
# the sum of every point ever kept stays many orders of magnitude below the float range.
_PREFIX_SUM_BOUND: Final = 1e15
_FLOAT_MAX: Final = sys.float_info.max


@dataclass(frozen=True, slots=True)
class Sample:
    """One metric sample, value already in the canonical unit of its metric type.

    A histogram sample carries its distribution; `value` is then the interval's mean."""

    service_name: str
    metric_type: str
    value: float
    ts: float
    labels: Mapping[str, str] | None = None  # None: no labels
    histogram: Histogram | None = None


def percentile_cont(sorted_values: Sequence[float], q: float) -> float:
    """PostgreSQL ``percentile_cont(q)`` over non-empty, ascending values.

    Position ``q * (n - 1)``; between two ranks the result is ``lo + frac * (hi - lo)``,
    the same float operations PostgreSQL performs, so both stores agree bit for bit.
    """
    pos = q * (len(sorted_values) - 1)
    first = math.floor(pos)
    low = sorted_values[first]
    if first == math.ceil(pos):
        return low
    frac = pos - first
    high = sorted_values[first + 1]
    spread = high - low
    if spread == math.inf:  # two finite ranks more than the float range apart
        return low * (1.0 - frac) + high * frac
    return low + frac * spread


def safe_sum(values: Sequence[float]) -> float:
    """Exact (correctly rounded) sum of finite values; saturates instead of overflowing."""
    try:
        return math.fsum(values)
    except OverflowError:
        shift = len(values).bit_length()  # 2**shift > n: the scaled sum cannot overflow
        total = math.fsum([math.ldexp(v, -shift) for v in values])
        try:
            return math.ldexp(total, shift)
        except OverflowError:
            return math.copysign(_FLOAT_MAX, total)


def safe_mean(values: Sequence[float]) -> float:
    """Mean of non-empty finite values; finite whatever their size (|mean| <= max |v|)."""
    n = len(values)
    try:
        return math.fsum(values) / n
    except OverflowError:
        shift = n.bit_length()
        return math.ldexp(math.fsum([math.ldexp(v, -shift) for v in values]) / n, shift)


class _SortedRange:
    """Sorted values of the points at physical indices [lo, hi) of a window's lists.

    Successive evaluations of one rule window differ by a few points at each end, so moving
    the range costs O(log k) searches plus a memmove instead of an O(k log k) sort.
    """

    __slots__ = ("hi", "lo", "values")

    def __init__(self, lo: int, hi: int, values: list[float]) -> None:
        self.lo = lo
        self.hi = hi
        self.values = values

    def move(self, source: list[float], lo: int, hi: int) -> list[float]:
        old_lo, old_hi = self.lo, self.hi
        self.lo, self.hi = lo, hi
        changes = abs(lo - old_lo) + abs(hi - old_hi)
        if lo >= old_hi or hi <= old_lo or changes > hi - lo:
            self.values = sorted(source[lo:hi])  # little overlap: a fresh sort is cheaper
            return self.values
        ordered = self.values
        leaving = [*range(old_lo, lo), *range(hi, old_hi)]
        for i in leaving:
            value = source[i]
            pos = bisect_left(ordered, value)
            if pos == len(ordered) or ordered[pos] != value:
                # Only reachable with unordered floats (NaN), which ingestion rejects.
                self.values = sorted(source[lo:hi])
                return self.values
            del ordered[pos]
        for i in (*range(lo, old_lo), *range(old_hi, hi)):
            insort(ordered, source[i])
        return ordered

    def shift(self, pos: int, value: float) -> None:
        """Account for a point inserted at physical index ``pos``."""
        if pos <= self.lo:
            self.lo += 1
            self.hi += 1
        elif pos < self.hi:
            insort(self.values, value)
            self.hi += 1


class SlidingWindow:
    """Time-ordered points of one (service, metric) series, bounded in age and in count.

    Points older than ``horizon`` seconds before the newest point are evicted on insert, and
    at most ``cap`` points are kept (the oldest go first: past the cap, aggregates describe
    only the newest ``cap`` points). The newest point is never evicted.
    """

    __slots__ = ("_cum", "_horizon", "_ranges", "_start", "_ts", "_values", "_wide", "cap")

    def __init__(self, horizon: float, *, cap: int = DEFAULT_WINDOW_CAP) -> None:
        if not horizon >= 0:
            raise ValueError("horizon must be >= 0")
        if cap < 1:
            raise ValueError("cap must be >= 1")
        self._horizon = horizon
        self.cap = cap
        # Parallel lists; entries before _start are evicted but not yet deleted (deleting
        # from the front of a list is O(n), so it is done in bulk by _compact).
        self._ts: list[float] = []
        self._values: list[float] = []
        # _cum[i] = values[0] + ... + values[i], for O(1) sum/avg over any slice.
        self._cum: list[float] = []
        # True while a kept value lies beyond _PREFIX_SUM_BOUND: sums then avoid _cum.
        self._wide = False
        self._start = 0
        # Sorted views for min/max/percentiles, one per window length queried.
        self._ranges: dict[float, _SortedRange] = {}

    @property
    def horizon(self) -> float:
        """Seconds of history kept before the newest point."""
        return self._horizon

    @horizon.setter
    def horizon(self, horizon: float) -> None:
        if not horizon >= 0:
            raise ValueError("horizon must be >= 0")
        self._horizon = horizon
        self._ranges.clear()  # the rules changed: drop views of windows no longer used

    def __len__(self) -> int:
        return len(self._ts) - self._start

    @property
    def latest_ts(self) -> float | None:
        """Timestamp of the newest point, None when empty."""
        return self._ts[-1] if self._ts else None

    @property
    def latest_value(self) -> float | None:
        """Value of the newest point (the last inserted among equal timestamps)."""
        return self._values[-1] if self._values else None

    def points(self) -> list[tuple[float, float]]:
        """The kept points, oldest first (for inspection and tests)."""
        start = self._start
        return list(zip(self._ts[start:], self._values[start:], strict=True))

    def add(self, ts: float, value: float) -> None:
        """Insert a point (out of order allowed), then evict by age and count.

        ``value`` must be finite (ValueError otherwise).
        """
        if not -_PREFIX_SUM_BOUND <= value <= _PREFIX_SUM_BOUND:
            if not -_FLOAT_MAX <= value <= _FLOAT_MAX:
                raise ValueError("window values must be finite")
            self._wide = True
        times = self._ts
        values = self._values
        cum = self._cum
        if not times or ts >= times[-1]:
            times.append(ts)
            values.append(value)
            cum.append(cum[-1] + value if cum else value)
        else:
            # Rare late point: insert after equal timestamps and rebuild the prefix sums
            # from there, exactly as if the points had arrived in order.
            pos = bisect_right(times, ts, self._start)
            times.insert(pos, ts)
            values.insert(pos, value)
            prev = cum[pos - 1] if pos else 0.0
            cum[pos:] = list(accumulate(values[pos:], initial=prev))[1:]
            for view in self._ranges.values():
                view.shift(pos, value)
        self._evict()

    def _evict(self) -> None:
        times = self._ts
        start = self._start
        cutoff = times[-1] - self._horizon
        if times[start] < cutoff:
            start = bisect_left(times, cutoff, start)
        n = len(times)
        if n - start > self.cap:
            start = n - self.cap
        self._start = start
        if start >= _COMPACT_MIN and start * 2 >= n:
            self._compact()

    def _compact(self) -> None:
        start = self._start
        del self._ts[:start]
        del self._values[:start]
        # Rebasing keeps prefix sums small, so their rounding error stays bounded by what
        # the window holds rather than growing with everything ever inserted.
        self._cum = list(accumulate(self._values))
        if self._wide:
            bound = _PREFIX_SUM_BOUND
            self._wide = any(not -bound <= v <= bound for v in self._values)
        self._start = 0
        for key, view in list(self._ranges.items()):
            view.lo -= start
            view.hi -= start
            if view.lo < 0:
                del self._ranges[key]  # it covered deleted points; rebuilt on next use

    def _bounds(self, window: float, now: float) -> tuple[int, int]:
        times = self._ts
        start = self._start
        hi = len(times) if now >= times[-1] else bisect_right(times, now, start)
        lo = bisect_right(times, now - window, start, hi)
        return lo, hi

    def _sum(self, lo: int, hi: int) -> float:
        if hi - lo <= _EXACT_SUM_MAX or self._wide:
            return safe_sum(self._values[lo:hi])
        cum = self._cum
        return cum[hi - 1] - (cum[lo - 1] if lo else 0.0)

    def _mean(self, lo: int, hi: int) -> float:
        if hi - lo <= _EXACT_SUM_MAX or self._wide:
            return safe_mean(self._values[lo:hi])
        cum = self._cum
        return (cum[hi - 1] - (cum[lo - 1] if lo else 0.0)) / (hi - lo)

    def aggregate(self, kind: str, *, window: float, now: float) -> float | None:
        """Aggregate the points with ``now - window < ts <= now``.

        ``count`` of an empty window is 0; every other kind is None when empty.
        """
        if not self._ts:
            if kind in AGGREGATIONS:
                return 0.0 if kind == "count" else None
            raise ValueError(f"unknown aggregation {kind!r}")
        if kind == "last":
            times = self._ts
            idx = len(times) - 1 if now >= times[-1] else bisect_right(times, now, self._start) - 1
            if idx < self._start or times[idx] <= now - window:
                return None
            return self._values[idx]
        lo, hi = self._bounds(window, now)
        if kind == "count":
            return float(hi - lo)
        if kind not in AGGREGATIONS:
            raise ValueError(f"unknown aggregation {kind!r}")
        if lo == hi:
            return None
        if kind == "avg":
            return self._mean(lo, hi)
        if kind == "sum":
            return self._sum(lo, hi)
        if hi - lo < _SORTED_VIEW_MIN:
            if kind == "min":
                return min(self._values[lo:hi])
            if kind == "max":
                return max(self._values[lo:hi])
            return percentile_cont(sorted(self._values[lo:hi]), PERCENTILES[kind])
        # Large windows: a sorted view kept in step with the window, per window length.
        ordered = self._sorted(window, lo, hi)
        if kind == "min":
            return ordered[0]
        if kind == "max":
            return ordered[-1]
        return percentile_cont(ordered, PERCENTILES[kind])

    def _sorted(self, window: float, lo: int, hi: int) -> list[float]:
        view = self._ranges.get(window)
        if view is None:
            ordered = sorted(self._values[lo:hi])
            self._ranges[window] = _SortedRange(lo, hi, ordered)
            return ordered
        return view.move(self._values, lo, hi)
