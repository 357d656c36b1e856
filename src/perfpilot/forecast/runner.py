"""Fits off the event loop: one worker thread, results cached per (series, grid) so a fit
runs once per new bucket, not once per request."""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from collections.abc import Hashable
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from perfpilot.forecast.model import Analysis, analyse

CACHE_SIZE = 256
# one worker: statsmodels releases the GIL in its numerics, but two fits at once on a small
# machine would only slow each other; a queue of fits is the honest back-pressure
_EXECUTOR = ThreadPoolExecutor(max_workers=1, thread_name_prefix="perfpilot-forecast")
_CACHE: OrderedDict[Hashable, Analysis | Exception] = OrderedDict()


async def analyse_async(
    key: Hashable,
    values: list[float],
    *,
    step_seconds: float,
    horizon_steps: int,
    levels: tuple[float, ...] = (),
) -> Analysis:
    """`analyse` in the worker thread; the same `key` (series, grid end, step, horizon) and
    values answer from the cache. Errors (too short a history) are cached too."""
    cache_key = (key, levels, tuple(values))
    hit = _CACHE.get(cache_key)
    if hit is None:
        raw = np.array(values, dtype=np.float64)
        loop = asyncio.get_running_loop()
        try:
            hit = await loop.run_in_executor(
                _EXECUTOR,
                lambda: analyse(
                    raw, step_seconds=step_seconds, horizon_steps=horizon_steps, levels=levels
                ),
            )
        except ValueError as exc:
            hit = exc
        _CACHE[cache_key] = hit
        while len(_CACHE) > CACHE_SIZE:
            _CACHE.popitem(last=False)
    else:
        _CACHE.move_to_end(cache_key)
    if isinstance(hit, Exception):
        raise hit
    return hit
