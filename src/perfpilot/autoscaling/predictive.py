"""Predictive scaling (DESIGN §14): scale ahead of a forecast rise of the arrival rate.

Basis. The service's throughput (answered requests/s) is bucketed over the last
MAX_POINTS x STEP seconds and fitted as GET /trends does (STL on the season found in the
data + exponential smoothing, forecast/model.py), in the forecast worker thread. Utilisation
is taken to scale with the arrival rate: the forecast's highest mean over the next `lead`
seconds, over the rate measured in the utilisation's own window, multiplies the measured
utilisation, and the HPA formula
(with its dead band) turns that into instances. The autoscaler takes the larger of this and
its reactive recommendation, so prediction never scales below the present; and since the
stabiliser keeps the highest recommendation of its window, it scales in only once forecast
and present both ask for fewer. Without a season in the data there is no rise to foresee:
the prediction is the reactive recommendation, and the note says so.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy.ext.asyncio import AsyncSession

from perfpilot.autoscaling.policy import ScalingPolicy, hpa_desired
from perfpilot.forecast import repository
from perfpilot.forecast.model import MAX_POINTS, Analysis, HistoryTooShort
from perfpilot.forecast.runner import analyse_async

STEP = 5.0  # seconds per bucket: 2 hours of history at most
REFIT_SECONDS = 30.0  # a fit serves this long (in tick time) before the next
DEFAULT_LEAD_SECONDS = 60.0
ARRIVAL_METRIC = "throughput"


@dataclass(frozen=True, slots=True)
class Prediction:
    instances: int  # the predictive recommendation (reactive when there is no basis)
    ratio: float | None  # forecast peak over the next lead / forecast now
    note: str  # basis and error, for the action's record


@dataclass(frozen=True, slots=True)
class _Fit:
    start: float  # time of the first forecast bucket
    analysis: Analysis | None
    problem: str | None

    @property
    def seasonal(self) -> bool:
        return self.analysis is not None and self.analysis.season is not None


class PredictiveScaler:
    """Forecasts per service, refitted every REFIT_SECONDS of tick time."""

    def __init__(self) -> None:
        self._fits: dict[str, _Fit] = {}

    async def _fit(self, session: AsyncSession, service: str, now: float, lead: float) -> _Fit:
        cached = self._fits.get(service)
        # a fit with a season serves REFIT_SECONDS; without one, the next bucket may bring it
        serves = REFIT_SECONDS if cached is not None and cached.seasonal else STEP
        if cached is not None and cached.start <= now < cached.start + serves:
            return cached
        end = math.floor(now / STEP) * STEP
        since = end - MAX_POINTS * STEP
        means = await repository.bucket_means(
            session,
            service_name=service,
            metric_type=ARRIVAL_METRIC,
            since=datetime.fromtimestamp(since, UTC),
            until=datetime.fromtimestamp(end, UTC),
            width_seconds=STEP,
        )
        values = [means.get(i, math.nan) for i in range(MAX_POINTS)]
        horizon = math.ceil((lead + REFIT_SECONDS) / STEP) + 1
        try:
            analysis = await analyse_async(
                ("predictive", service, end), values, step_seconds=STEP, horizon_steps=horizon
            )
            fit = _Fit(end, analysis, None)
        except HistoryTooShort as exc:
            fit = _Fit(end, None, f"no forecast: {exc}")
        self._fits[service] = fit
        return fit

    async def recommend(
        self,
        session: AsyncSession,
        service: str,
        *,
        now: float,
        current: int,
        utilization: float,
        reactive: int,
        policy: ScalingPolicy,
        lead: float | None,
        window: float,
    ) -> Prediction:
        ahead = lead if lead is not None else DEFAULT_LEAD_SECONDS
        fit = await self._fit(session, service, now, ahead)
        a = fit.analysis
        if a is None:
            return Prediction(reactive, None, f"predictive: {fit.problem}")
        if a.season is None:
            return Prediction(reactive, None, f"predictive: no season in {ARRIVAL_METRIC}")
        mean = a.forecast.mean
        first = max(0, math.floor((now - fit.start) / STEP))
        last = min(mean.size - 1, math.floor((now + ahead - fit.start) / STEP))
        if last < first:
            return Prediction(reactive, None, "predictive: the forecast is out of date")
        peak = float(max(mean[first : last + 1]))
        # the rate the measured utilisation goes with: measured over the same window
        recent = await repository.bucket_means(
            session,
            service_name=service,
            metric_type=ARRIVAL_METRIC,
            since=datetime.fromtimestamp(now - window, UTC),
            until=datetime.fromtimestamp(now, UTC),
            width_seconds=window,
        )
        base = sum(recent.values()) / len(recent) if recent else 0.0
        if base <= 0:
            return Prediction(reactive, None, f"predictive: no {ARRIVAL_METRIC} measured")
        ratio = max(peak, 0.0) / base
        instances = hpa_desired(current, utilization * ratio, policy)
        mape = a.holdout.mape if a.holdout else None
        error = f"held-out MAPE {mape:.1%}" if mape is not None else "held-out error unmeasured"
        note = (
            f"predictive: {ARRIVAL_METRIC} forecast peak {peak:.2f} within {ahead:g}s vs "
            f"{base:.2f} measured over {window:g}s (x{ratio:.2f}), "
            f"season {a.season.period_seconds:g}s, {a.model}, {error}: recommends {instances}"
        )
        return Prediction(instances, ratio, note)

    def forget(self, service: str) -> None:
        self._fits.pop(service, None)
