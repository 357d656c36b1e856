"""Predictive scaling (DESIGN §14): scale ahead of a forecast rise of the arrival rate.

Basis. The service's arrival rate — throughput (answered requests/s) / (1 - error_rate) per
bucket, since an overloaded service fails what it cannot carry — is bucketed over the last
MAX_POINTS x STEP seconds and fitted as GET /trends does (STL on the season found in the
data + exponential smoothing, forecast/model.py), in the forecast worker thread.
- Mode model: the arrival rate to size for is the larger of the forecast's highest mean over
  the next `lead` seconds and the rate of the newest STEP seconds (the present, which a
  forecast starting from older buckets may not have caught up with); μ and S are the model
  sizing's (sizing/service.py, steady μ from autoscaling/calibration.py); M/M/c gives the
  fewest instances meeting targetLatency, in one step.
- Mode hpa: utilisation is taken to scale with the arrival rate: the forecast's highest mean
  over the next `lead` seconds, over the rate measured in the utilisation's own window,
  multiplies the measured utilisation, and the HPA formula (with its dead band) turns that
  into instances. The autoscaler takes the larger of this and
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
from perfpilot.sizing.erlang import QueueModel, fewest_instances
from perfpilot.sizing.service import Target

STEP = 5.0  # seconds per bucket: 2 hours of history at most
REFIT_SECONDS = 30.0  # a fit serves this long (in tick time) before the next
DEFAULT_LEAD_SECONDS = 60.0
ARRIVAL_METRIC = "throughput"
ERROR_METRIC = "error_rate"


async def arrival_means(
    session: AsyncSession, service: str, *, since: float, until: float, width: float
) -> dict[int, float]:
    """Bucket index -> arrival rate: mean throughput / (1 - mean error_rate) of the bucket
    (error_rate not reported: the throughput itself)."""
    answered = await repository.bucket_means(
        session,
        service_name=service,
        metric_type=ARRIVAL_METRIC,
        since=datetime.fromtimestamp(since, UTC),
        until=datetime.fromtimestamp(until, UTC),
        width_seconds=width,
    )
    errors = await repository.bucket_means(
        session,
        service_name=service,
        metric_type=ERROR_METRIC,
        since=datetime.fromtimestamp(since, UTC),
        until=datetime.fromtimestamp(until, UTC),
        width_seconds=width,
    )
    return {i: v / (1.0 - min(max(errors.get(i, 0.0), 0.0), 0.99)) for i, v in answered.items()}


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
        means = await arrival_means(session, service, since=since, until=end, width=STEP)
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
        queue: QueueModel | None = None,
        target: Target | None = None,
    ) -> Prediction:
        """The predictive recommendation: M/M/c on the forecast arrival rate when `queue` (the
        model sizing's μ and S) and `target` are given, else the HPA formula scaled."""
        ahead = lead if lead is not None else DEFAULT_LEAD_SECONDS
        fit = await self._fit(session, service, now, ahead)
        a = fit.analysis
        peak: float | None = None
        basis = f"predictive: {fit.problem}"
        if a is not None and a.season is None:
            basis = "predictive: no season in the arrival rate"
        elif a is not None and a.season is not None:
            mean = a.forecast.mean
            first = max(0, math.floor((now - fit.start) / STEP))
            last = min(mean.size - 1, math.floor((now + ahead - fit.start) / STEP))
            if last < first:
                basis = "predictive: the forecast is out of date"
            else:
                peak = max(float(max(mean[first : last + 1])), 0.0)
                mape = a.holdout.mape if a.holdout else None
                error = f"held-out MAPE {mape:.1%}" if mape is not None else "error unmeasured"
                basis = (
                    f"predictive: arrival forecast peak {peak:.2f} rps within {ahead:g}s, "
                    f"season {a.season.period_seconds:g}s, {a.model}, {error}"
                )
        if queue is not None and target is not None:
            return await self._sized(session, service, now, peak, basis, queue, target, policy)
        if peak is None:
            return Prediction(reactive, None, basis)
        # the rate the measured utilisation goes with: measured over the same window
        recent = await arrival_means(session, service, since=now - window, until=now, width=window)
        base = sum(recent.values()) / len(recent) if recent else 0.0
        if base <= 0:
            return Prediction(reactive, None, f"predictive: no {ARRIVAL_METRIC} measured")
        ratio = peak / base
        instances = hpa_desired(current, utilization * ratio, policy)
        note = f"{basis}; vs {base:.2f} over {window:g}s (x{ratio:.2f}): recommends {instances}"
        return Prediction(instances, ratio, note)

    async def _sized(
        self,
        session: AsyncSession,
        service: str,
        now: float,
        peak: float | None,
        basis: str,
        queue: QueueModel,
        target: Target,
        policy: ScalingPolicy,
    ) -> Prediction:
        """Fewest instances for the larger of the forecast peak and the present arrival rate."""
        newest = await arrival_means(session, service, since=now - STEP, until=now + 1e-3,
                                     width=STEP + 1e-3)  # fmt: skip
        present = newest.get(0)
        arrival = max(peak or 0.0, present or 0.0, 0.0)
        if arrival <= 0:
            return Prediction(policy.min_instances, None, f"{basis}; no arrival measured")
        sizing = fewest_instances(
            QueueModel(arrival, queue.service_rate, queue.service, queue.service_s),
            target_s=target.latency_ms / 1000.0,
            statistic=target.statistic,
            min_instances=policy.min_instances,
            max_instances=policy.max_instances,
        )
        now_rate = f"{present:.2f}" if present is not None else "unmeasured"
        ratio = arrival / present if present else None
        shown = f" (x{ratio:.2f} the present)" if ratio is not None else ""
        predicted = sizing.predicted_s * 1000.0
        note = (
            f"{basis}; present {now_rate} rps over {STEP:g}s; M/M/c at {arrival:.2f} rps{shown}, "
            f"mu {queue.service_rate:.3f} rps/instance -> {sizing.instances} instances, "
            f"predicted {target.statistic} {predicted:.0f} ms vs {target.latency_ms:g} ms"
        )
        return Prediction(sizing.instances, ratio, note)

    def forget(self, service: str) -> None:
        self._fits.pop(service, None)
