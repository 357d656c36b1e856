"""Cumulative series -> per-interval increases, per series, in bounded memory.

A cumulative counter or histogram reports totals since its start. The increase over an interval
is the difference between two consecutive reports. A reset (the process restarted) shows as a
new start time (OTLP) or as totals that went down (Prometheus); the new totals are then the
increase since the reset. The first report of a series is an increase from zero only when its
start time is known (OTLP's `start_time_unix_nano`, as Prometheus' created-timestamp ingestion
does); without one (a scrape) it only primes the series. At most `max_series` series are kept:
the least recently reported one is forgotten first (it primes again if it comes back).
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Hashable, Sequence
from dataclasses import dataclass

from perfpilot.collection.samples import Histogram


@dataclass(frozen=True, slots=True)
class _Total:
    start: float  # seconds since the epoch; 0 = unknown
    time: float
    value: float
    bounds: tuple[float, ...] = ()
    counts: tuple[float, ...] = ()
    count: float = 0.0


@dataclass(frozen=True, slots=True)
class Increase:
    value: float
    interval_seconds: float
    histogram: Histogram | None = None


class CumulativeState:
    def __init__(self, *, max_series: int = 100_000) -> None:
        self.max_series = max_series
        self._last: OrderedDict[Hashable, _Total] = OrderedDict()

    def __len__(self) -> int:
        return len(self._last)

    def forget(self, prefix: Hashable) -> None:
        """Drop every series whose key starts with `prefix` (a deleted scrape target)."""
        for key in [k for k in self._last if isinstance(k, tuple) and k[:1] == (prefix,)]:
            del self._last[key]

    def _remember(self, key: Hashable, total: _Total) -> None:
        self._last[key] = total
        self._last.move_to_end(key)
        while len(self._last) > self.max_series:
            self._last.popitem(last=False)

    def counter(self, key: Hashable, *, start: float, time: float, value: float) -> Increase | None:
        """The increase since the previous report of `key`, or None (primed, or out of order)."""
        return self._advance(key, _Total(start, time, value))

    def histogram(
        self,
        key: Hashable,
        *,
        start: float,
        time: float,
        bounds: Sequence[float],
        counts: Sequence[float],
        total: float,
        count: float,
    ) -> Increase | None:
        """The bucket increases since the previous report (counts per bucket, not cumulative)."""
        return self._advance(key, _Total(start, time, total, tuple(bounds), tuple(counts), count))

    def _advance(self, key: Hashable, new: _Total) -> Increase | None:
        prev = self._last.get(key)
        if prev is not None and new.time <= prev.time:
            return None  # a repeat or an older report: nothing new
        self._remember(key, new)
        if prev is not None and new.bounds != prev.bounds and not _restarted(prev, new):
            return None  # re-bucketed (an exponential histogram rescaled): prime again
        if prev is None or _reset(prev, new):
            if new.start > 0 and new.start < new.time:
                return _increase(None, new, new.time - new.start)
            if prev is None:
                return None
            return _increase(None, new, new.time - prev.time)
        return _increase(prev, new, new.time - prev.time)


def _restarted(prev: _Total, new: _Total) -> bool:
    return new.start > 0 and prev.start > 0 and new.start != prev.start


def _reset(prev: _Total, new: _Total) -> bool:
    if _restarted(prev, new) or new.bounds != prev.bounds:
        return True
    if new.value < prev.value or new.count < prev.count:
        return True
    return any(n < p for n, p in zip(new.counts, prev.counts, strict=True))


def _increase(prev: _Total | None, new: _Total, interval: float) -> Increase:
    if prev is None:
        value, counts, count = new.value, new.counts, new.count
    else:
        value = new.value - prev.value
        counts = tuple(n - p for n, p in zip(new.counts, prev.counts, strict=True))
        count = new.count - prev.count
    histogram = None
    if new.bounds or new.counts:
        histogram = Histogram(
            bounds=list(new.bounds),
            counts=[round(c) for c in counts],
            sum=value,
            count=round(count),
        )
    return Increase(value, interval, histogram)
