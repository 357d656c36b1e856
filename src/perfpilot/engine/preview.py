"""Dry-run evaluation: what a sample would do to each matching rule, changing nothing."""

from __future__ import annotations

from typing import TYPE_CHECKING

from perfpilot.engine.histograms import series_aggregate
from perfpilot.engine.series import PairFailure
from perfpilot.engine.state_machine import AlertTransition, RuleSpec, RuleState, evaluate
from perfpilot.engine.windows import DEFAULT_WINDOW_CAP, Sample, SlidingWindow

if TYPE_CHECKING:
    from perfpilot.engine.core import EvaluationCore


def preview_sample(
    core: EvaluationCore, sample: Sample, *, window_cap: int = DEFAULT_WINDOW_CAP
) -> list[tuple[RuleSpec, float | None, AlertTransition | None]]:
    """Each matching rule, its aggregate with `sample` added, and the transition it would
    make. Every window and state is copied, never touched."""
    # the plain rules only: a labelled rule's windows hold only the samples it selects
    matching = {
        k: v
        for k, v in core.matching(sample.service_name, sample.metric_type).items()
        if not v.selector
    }
    if not matching:
        return []
    existing = core.series(sample.service_name, sample.metric_type)
    horizon = max(s.window for s in matching.values())
    window = SlidingWindow(horizon, cap=window_cap)
    if existing is not None:
        for point_ts, point_value in existing.window.points():
            window.add(point_ts, point_value)
    newest = window.latest_ts
    at = max(sample.ts, newest) if newest is not None else sample.ts
    window.add(sample.ts, sample.value)
    histograms = existing.histograms if existing is not None else None
    out: list[tuple[RuleSpec, float | None, AlertTransition | None]] = []
    for rule_id in sorted(matching):
        spec = matching[rule_id]
        try:
            aggregate = series_aggregate(  # histograms are only read: no copy needed
                window, histograms, spec.aggregation, span=spec.window, now=at
            )
        except Exception as exc:  # isolate the pair: shown as "no value"
            core.report_failure(PairFailure(rule_id, sample.service_name, exc))
            aggregate = None
        if aggregate is not None and spec.anomaly is not None:  # judged on its excess
            aggregate = core.anomaly_excess(spec, sample.service_name, at, aggregate)
        live = existing.states.get(rule_id) if existing is not None else None
        state = RuleState.from_dict(live.to_dict()) if live is not None else RuleState()
        transition = None
        if aggregate is not None:
            transition = evaluate(
                spec,
                state,
                service_name=sample.service_name,
                value=aggregate,
                at=at,
                sample_ts=sample.ts,
            )
        out.append((spec, aggregate, transition))
    return out
