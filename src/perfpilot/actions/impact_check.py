"""Measures executed actions once their measurement window is covered by data."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime

from sqlalchemy.ext.asyncio import AsyncSession

from perfpilot.actions import repository
from perfpilot.actions.aggregate import aggregate_window
from perfpilot.actions.executor import ActionExecutor
from perfpilot.actions.impact import Guard, Measurement, judge, judge_guarded
from perfpilot.engine.histograms import Histogram
from perfpilot.metrics import histogram_repository
from perfpilot.metrics.schemas import MAX_FUTURE_SKEW_SECONDS
from perfpilot.models import OptimizationAction
from perfpilot.sizing.service import verify_prediction

LatestSample = Callable[[str, str], float | None]


def _judge(
    action: OptimizationAction, values: list[float], histograms: list[Histogram]
) -> tuple[Measurement, int]:
    after, samples = aggregate_window(action.aggregation or "avg", values, histograms)
    return _judge_aggregate(action, after, samples), samples


def _judge_aggregate(action: OptimizationAction, after: float | None, samples: int) -> Measurement:
    baseline_samples = action.baseline_samples or 0
    if action.guard:
        guard = Guard.from_dict(action.guard)
        instances = (
            int((action.state_before or {}).get("instances", 0)),
            int((action.state_after or {}).get("instances", 0)),
        )
        return judge_guarded(
            guard,
            baseline=action.baseline,
            baseline_samples=baseline_samples,
            after=after,
            after_samples=samples,
            instances=instances,
        )
    return judge(
        action.metric_type or "",
        baseline=action.baseline,
        baseline_samples=baseline_samples,
        after=after,
        after_samples=samples,
    )


def _record(action: OptimizationAction, result: Measurement, samples: int) -> None:
    action.measured_value = result.measured_value
    action.measured_samples = samples
    action.measured_impact = result.measured_impact
    action.outcome = result.outcome
    revert_of = (action.parameters or {}).get("revertOf")
    prefix = f"revert of {revert_of}: " if revert_of else ""
    action.measurement_note = prefix + result.note
    if action.guard and result.guard_held is not None:
        found = {"measured": result.measured_value, "held": result.guard_held}
        action.guard = {**action.guard, **found}
    action.measured_at = datetime.now(UTC)


async def measure_due(
    session: AsyncSession,
    executor: ActionExecutor,
    *,
    now: float,
    latest_sample_ts: LatestSample,
    grace: float,
    owns: Callable[[str], bool] | None = None,
) -> list[OptimizationAction]:
    """Measure every action whose window has passed: samples seen beyond its end (sample
    time), or the wall clock past its end plus `grace` (the data is not coming)."""
    measured = []
    # nothing can be due later than the newest time seen: sample time never runs ahead of
    # the wall clock by more than the 5 min ingestion allows
    due_by = datetime.fromtimestamp(max(now, time.time()) + MAX_FUTURE_SKEW_SECONDS, UTC)
    for action in await repository.due_measurements(session, due_by=due_by):
        if action.measure_due_at is None or (owns is not None and not owns(action.service_name)):
            continue
        if action.metric_type is None:  # never due in practice: said, not left pending
            _record(action, Measurement(None, None, "unmeasured", "no metric to measure by"), 0)
            measured.append(action)
            continue
        due = action.measure_due_at.timestamp()
        latest = latest_sample_ts(action.service_name, action.metric_type)
        if not ((latest is not None and latest >= due) or now >= due + grace):
            continue
        start, end = executor.measurement_window(action)
        values = await repository.sample_values(
            session,
            service_name=action.service_name,
            metric_type=action.metric_type,
            start=start,
            end=end,
        )
        histograms = await histogram_repository.window_histograms(
            session,
            service_name=action.service_name,
            metric_type=action.metric_type,
            start=start,
            end=end,
        )
        result, samples = _judge(action, values, histograms)
        _record(action, result, samples)
        if action.sizing:  # a model-sized action: its latency prediction is checked too
            await verify_prediction(session, action, start=start, end=end)
        measured.append(action)
    if measured:
        await session.flush()
    return measured
