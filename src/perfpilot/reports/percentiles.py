"""Exact percentiles, as PostgreSQL's ``percentile_cont`` defines them, and the plan that lets
SQLite (which has no percentile_cont) find them without sorting a whole period.

Definition (PostgreSQL's): over the n values in ascending order, position ``q (n - 1)``; with
``first = floor``, ``second = ceil`` and ``p = position - first`` the result is
``v[first] + p (v[second] - v[first])`` (just ``v[first]`` when they coincide). The same
float operations in the same order, so both stores give the same bits.

SQLite method. Sorting millions of values is the slow part, and only two ranks per quantile
are needed. So:
1. a probe sample (one index seek per probe at evenly spaced times) suggests, per quantile, a
   value band ``[low, high]`` that should hold the wanted ranks (sample quantile +- 4
   standard errors);
2. the pass that aggregates the period also counts, exactly, the values ``< low`` of each
   band; a band whose count exceeds its first rank cannot hold it;
3. only the values inside the (merged, disjoint) bands are ranked with ``row_number()``, and
   global rank = ``count(< low)`` + rank in band. A rank past the end of its band is simply
   not found.
When n is small, a band cannot hold its rank, or a rank is not found, the plan is one
unbounded band: every value ranked, the plain exact method. The sample only decides how
much is sorted, never the result.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

QUANTILES: tuple[float, ...] = (0.5, 0.95, 0.99)
FULL_SORT_MAX_ROWS = 20_000
BAND_SIGMAS = 4.0
PROBES = 10_000


@dataclass(frozen=True, slots=True)
class RankTarget:
    """The two ranks (0-based) percentile_cont reads for quantile q of n values."""

    q: float
    first: int
    second: int
    proportion: float


def rank_target(q: float, n: int) -> RankTarget:
    position = q * (n - 1)
    first = math.floor(position)
    return RankTarget(q, first, math.ceil(position), position - first)


def interpolate(target: RankTarget, first_value: float, second_value: float) -> float:
    if target.second == target.first:
        return first_value
    return first_value + target.proportion * (second_value - first_value)


@dataclass(frozen=True, slots=True)
class Band:
    """Values v with low <= v <= high; None leaves that side open."""

    low: float | None
    high: float | None


FULL_BAND = Band(None, None)


def choose_bands(sample: Sequence[float], quantiles: Sequence[float] = QUANTILES) -> list[Band]:
    """One band per quantile from an ascending probe sample; [] when the sample is too small."""
    m = len(sample)
    if m < 10:
        return []
    bands = []
    for q in quantiles:
        margin = BAND_SIGMAS * math.sqrt(q * (1 - q) / m) + 2 / m
        lo_index = math.floor((q - margin) * (m - 1))
        hi_index = math.ceil((q + margin) * (m - 1))
        low = sample[lo_index] if lo_index > 0 else None
        high = sample[hi_index] if hi_index < m - 1 else None
        bands.append(Band(low, high))
    return bands


@dataclass(frozen=True, slots=True)
class RankLookup:
    """Where a quantile's two values are: band index and ranks within that band."""

    band: int
    first: int
    second: int


@dataclass(frozen=True, slots=True)
class RankPlan:
    bands: list[Band]  # disjoint, to be ranked in SQL
    lookups: list[RankLookup]  # one per target, same order

    @property
    def full_sort(self) -> bool:
        return self.bands == [FULL_BAND]


def _low_key(band: Band) -> float:
    return -math.inf if band.low is None else band.low


def _high_key(band: Band) -> float:
    return math.inf if band.high is None else band.high


def full_plan(targets: Sequence[RankTarget]) -> RankPlan:
    return RankPlan([FULL_BAND], [RankLookup(0, t.first, t.second) for t in targets])


def plan_ranks(
    n: int, targets: Sequence[RankTarget], bands: Sequence[Band], below: Sequence[int]
) -> RankPlan:
    """Disjoint bands to rank, and where each target's ranks fall in them; the full sort
    when n is small or a band starts above its target's first rank."""
    if n <= FULL_SORT_MAX_ROWS or len(bands) != len(targets) or len(below) != len(targets):
        return full_plan(targets)
    if any(count > target.first for target, count in zip(targets, below, strict=True)):
        return full_plan(targets)
    order = sorted(range(len(bands)), key=lambda j: _low_key(bands[j]))
    merged: list[tuple[Band, int]] = []
    owner: dict[int, int] = {}
    for j in order:
        band = bands[j]
        if merged and _low_key(band) <= _high_key(merged[-1][0]):
            last, last_below = merged[-1]
            if _high_key(band) > _high_key(last):
                merged[-1] = (Band(last.low, band.high), last_below)
        else:
            merged.append((band, below[j]))
        owner[j] = len(merged) - 1
    lookups = []
    for j, target in enumerate(targets):
        base = merged[owner[j]][1]
        lookups.append(RankLookup(owner[j], target.first - base, target.second - base))
    return RankPlan([band for band, _ in merged], lookups)
