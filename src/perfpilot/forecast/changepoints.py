"""Level shifts by binary segmentation: split where the squared error drops most, keep the
split when the drop beats a BIC-like penalty on the noise variance. Pure."""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

MAX_CHANGE_POINTS = 5
PENALTY_FACTOR = 3.0  # x sigma^2 x log(n): a split must explain more than noise would

Floats = NDArray[np.float64]


@dataclass(frozen=True, slots=True)
class ChangePoint:
    index: int  # first bucket of the new level
    before: float  # mean level of the segment before
    after: float  # mean level of the segment after


def noise_variance(values: Floats) -> float:
    """sigma^2 from the median absolute first difference (robust to level shifts)."""
    if values.size < 3:
        return 0.0
    diffs = np.diff(values)
    mad = float(np.median(np.abs(diffs - np.median(diffs))))
    sigma = 1.4826 * mad / math.sqrt(2.0)
    return sigma * sigma


def _best_split(values: Floats, lo: int, hi: int, min_size: int) -> tuple[int, float] | None:
    segment = values[lo:hi]
    n = segment.size
    if n < 2 * min_size:
        return None
    cumsum = np.cumsum(segment)
    total = cumsum[-1]
    k = np.arange(min_size, n - min_size + 1)
    left = cumsum[k - 1]
    # reduction of the squared error when splitting at k: k(n-k)/n (mean_l - mean_r)^2
    gain = (left / k - (total - left) / (n - k)) ** 2 * k * (n - k) / n
    at = int(np.argmax(gain))
    return lo + int(k[at]), float(gain[at])


def change_points(values: Floats, *, min_size: int | None = None) -> list[ChangePoint]:
    """Up to MAX_CHANGE_POINTS level shifts of `values`, in time order."""
    n = values.size
    size = min_size or max(5, n // 20)
    penalty = PENALTY_FACTOR * noise_variance(values) * math.log(max(n, 2))
    if n < 2 * size or penalty <= 0:
        return []
    cuts: list[int] = []
    segments = [(0, n)]
    while segments and len(cuts) < MAX_CHANGE_POINTS:
        found = [(s, _best_split(values, s[0], s[1], size)) for s in segments]
        candidates = [(s, split) for s, split in found if split is not None]
        if not candidates:
            break
        (lo, hi), (at, gain) = max(candidates, key=lambda item: item[1][1])
        if gain <= penalty:
            break
        cuts.append(at)
        segments.remove((lo, hi))
        segments.extend([(lo, at), (at, hi)])
    bounds = [0, *sorted(cuts), n]
    means = [float(np.mean(values[a:b])) for a, b in itertools.pairwise(bounds)]
    return [
        ChangePoint(index=cut, before=means[i], after=means[i + 1])
        for i, cut in enumerate(sorted(cuts))
    ]
