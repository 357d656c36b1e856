"""Forecast bands for `anomalous` rules: fitted in the worker thread by a loop of their own,
looked up by the engine's pure core at evaluation time (EvaluationCore.bands).

Per (rule, service): the history is the series' means over windows of the rule's `window`
(the scale the rule's aggregate lives on), at most MAX_POINTS of them, ending at the series'
newest sample. The fit is GET /trends' (forecast/model.py); the band is its interval at the
rule's sensitivity (99/95/90 %) over the next HORIZON windows, refitted when half of it has
passed in sample time. With fewer than MIN_HISTORY windows of history, or before the first
fit, the pair is `learning`: the rule neither fires nor stays silent without a word (the
rule's GET says so). A season is only ever found with two cycles of history or more.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
from dataclasses import dataclass
from datetime import UTC, datetime

import structlog
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from perfpilot.engine.core import EvaluationCore
from perfpilot.engine.state_machine import RuleSpec
from perfpilot.forecast import repository
from perfpilot.forecast.model import MAX_POINTS, HistoryTooShort
from perfpilot.forecast.runner import analyse_async

log = structlog.get_logger("perfpilot.anomaly")

HORIZON = 60  # windows ahead per fit
MIN_HISTORY = 60  # windows of history before a band is trusted
MIN_STEP = 1.0


@dataclass(frozen=True, slots=True)
class Band:
    start: float  # the first forecast window starts here (sample time)
    step: float
    low: tuple[float, ...]
    high: tuple[float, ...]
    level: float
    model: str
    history: int  # windows of history the fit used
    holdout_mape: float | None
    holdout_coverage95: float | None

    @property
    def until(self) -> float:
        return self.start + len(self.low) * self.step


@dataclass(frozen=True, slots=True)
class Learning:
    history: int
    needed: int
    message: str
    retry_at: float  # sample time of the series after which to try again


class AnomalyBands:
    """The bands of every (anomalous rule, service) pair, and the loop that keeps them fresh."""

    def __init__(
        self,
        readers: async_sessionmaker[AsyncSession],
        core: EvaluationCore,
        *,
        interval: float = 10.0,
    ) -> None:
        self._readers = readers
        self._core = core
        self._interval = interval
        self._pairs: dict[tuple[str, str], Band | Learning] = {}
        self._task: asyncio.Task[None] | None = None

    # --- the engine's view (pure lookups) ---------------------------------------------------
    def band(self, rule_id: str, service: str, t: float) -> tuple[float, float] | None:
        found = self._pairs.get((rule_id, service))
        if not isinstance(found, Band):
            return None
        index = max(0, math.floor((t - found.start) / found.step))
        if index >= len(found.low):
            return None  # out of date: waits for the next fit rather than guess
        return found.low[index], found.high[index]

    def status(self, rule_id: str) -> dict[str, Band | Learning]:
        """Per service: the pair's band or why it is still learning."""
        return {service: v for (rid, service), v in self._pairs.items() if rid == rule_id}

    # --- fitting ----------------------------------------------------------------------------
    async def refresh(self) -> int:
        """Fit every pair that is due; returns how many fits ran."""
        fits = 0
        seen: set[tuple[str, str]] = set()
        for spec in self._core.rules():
            if spec.anomaly is None or not spec.is_active:
                continue
            services = (
                [spec.service_name] if spec.service_name else self._core.services(spec.metric)
            )
            for service in services:
                seen.add((spec.rule_id, service))
                if await self._refresh_pair(spec, service):
                    fits += 1
        for key in set(self._pairs) - seen:
            del self._pairs[key]
        return fits

    async def _refresh_pair(self, spec: RuleSpec, service: str) -> bool:
        assert spec.anomaly is not None
        key = (spec.rule_id, service)
        latest = self._core.latest(service, spec.metric)
        current = self._pairs.get(key)
        if latest is None:
            self._pairs[key] = Learning(0, MIN_HISTORY, "learning: no samples yet", 0.0)
            return False
        newest = latest[0]
        step = max(MIN_STEP, spec.window)
        if (
            isinstance(current, Band)
            and current.step == step
            and current.level == (spec.anomaly.level)
        ):
            if newest < current.start + current.step * HORIZON / 2:
                return False
        elif isinstance(current, Learning) and newest < current.retry_at:
            return False
        end = (math.floor(newest / step) + 1) * step  # the newest sample's window included
        since = end - MAX_POINTS * step
        async with self._readers() as session:
            means = await repository.bucket_means(
                session,
                service_name=service,
                metric_type=spec.metric,
                since=datetime.fromtimestamp(since, UTC),
                until=datetime.fromtimestamp(end, UTC),
                width_seconds=step,
            )
        values = [means.get(i, math.nan) for i in range(MAX_POINTS)]
        filled = len(means)
        retry = newest + 5 * step
        if filled < MIN_HISTORY:
            self._pairs[key] = _learning(filled, step, retry)
            return False
        try:
            fit = await analyse_async(
                ("anomaly", *key, end, step),
                values,
                step_seconds=step,
                horizon_steps=HORIZON,
                levels=(spec.anomaly.level,),
            )
        except HistoryTooShort:
            self._pairs[key] = _learning(filled, step, retry)
            return False
        low, high = fit.forecast.extra[spec.anomaly.level]
        self._pairs[key] = Band(
            start=end,
            step=step,
            low=tuple(float(v) for v in low),
            high=tuple(float(v) for v in high),
            level=spec.anomaly.level,
            model=fit.model,
            history=fit.samples,
            holdout_mape=fit.holdout.mape if fit.holdout else None,
            holdout_coverage95=fit.holdout.coverage95 if fit.holdout else None,
        )
        return True

    # --- the loop ---------------------------------------------------------------------------
    @property
    def alive(self) -> bool:
        return self._task is not None and not self._task.done()

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="perfpilot-anomaly-bands")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self._interval)
            try:
                await self.refresh()
            except Exception:  # the bands stay as they were; retried next time
                log.exception("anomaly_refresh_failed")


def _learning(filled: int, step: float, retry_at: float) -> Learning:
    return Learning(
        filled,
        MIN_HISTORY,
        f"learning: {filled} of the {MIN_HISTORY} windows of {step:g} s of history needed "
        "before the forecast interval is trusted",
        retry_at,
    )
