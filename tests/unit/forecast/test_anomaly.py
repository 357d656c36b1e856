"""The anomalous operator's parts: the forecast band's false-positive rate on pure noise, and
the pure engine core judging an anomalous rule on its excess over a band."""

from __future__ import annotations

import numpy as np

from perfpilot.engine.core import EvaluationCore
from perfpilot.engine.state_machine import Anomaly, RuleSpec, TransitionKind, excess
from perfpilot.engine.windows import Sample
from perfpilot.forecast.model import analyse

# Stated bound: on pure noise a 95 % band is left by at most 8 % of new windows (nominal 5 %),
# a 99 % band by at most 3 % (nominal 1 %).
BOUNDS = {0.95: 0.08, 0.99: 0.03}


def test_false_positive_rate_on_pure_noise_is_below_the_stated_bound() -> None:
    outside = {level: 0 for level in BOUNDS}
    total = 0
    for seed in range(10):
        rng = np.random.default_rng(100 + seed)
        history = rng.normal(200.0, 15.0, 600)
        ahead = rng.normal(200.0, 15.0, 60)
        fit = analyse(history, step_seconds=10.0, horizon_steps=60, levels=tuple(BOUNDS))
        for level in BOUNDS:
            low, high = fit.forecast.extra[level]
            outside[level] += int(np.sum((ahead < low) | (ahead > high)))
        total += ahead.size
    for level, bound in BOUNDS.items():
        assert outside[level] / total <= bound, (level, outside[level] / total)


class StaticBand:
    """A band source with one fixed interval from `start` on; nothing before (learning)."""

    def __init__(self, start: float, low: float, high: float) -> None:
        self.start, self.low, self.high = start, low, high

    def band(self, rule_id: str, service: str, t: float) -> tuple[float, float] | None:
        return (self.low, self.high) if t >= self.start else None


def spec(direction: str = "both") -> RuleSpec:
    return RuleSpec(
        rule_id="r1",
        name="unusual latency",
        service_name="svc",
        metric="latency",
        operator="gt",
        threshold=0.0,
        duration=20.0,
        aggregation="avg",
        window=10.0,
        anomaly=Anomaly(sensitivity="medium", direction=direction),  # type: ignore[arg-type]
    )


def run(core: EvaluationCore, values: list[tuple[float, float]]) -> list[TransitionKind]:
    kinds = []
    for ts, value in values:
        for transition in core.evaluate_sample(Sample("svc", "latency", value, ts)):
            kinds.append(transition.kind)
    return kinds


def test_learning_pairs_never_fire_and_a_shift_fires_after_its_duration() -> None:
    core = EvaluationCore()
    core.upsert_rule(spec())
    core.bands = StaticBand(start=100.0, low=180.0, high=220.0)
    # before the band exists (learning): far outside, yet nothing happens
    assert run(core, [(float(t), 500.0) for t in range(0, 100, 5)]) == []
    # back inside the band (the first windows still average in the learning-time values)
    assert TransitionKind.FIRED not in run(core, [(float(t), 200.0) for t in range(100, 140, 5)])
    kinds = run(core, [(float(t), 400.0) for t in range(140, 200, 5)])
    assert kinds[:2] == [TransitionKind.PENDING, TransitionKind.FIRED]
    # back inside: resolved
    assert TransitionKind.RESOLVED in run(core, [(float(t), 200.0) for t in range(200, 240, 5)])


def test_direction_up_ignores_a_drop() -> None:
    core = EvaluationCore()
    core.upsert_rule(spec("up"))
    core.bands = StaticBand(start=0.0, low=180.0, high=220.0)
    assert run(core, [(float(t), 10.0) for t in range(0, 100, 5)]) == []
    assert excess("up", 10.0, 180.0, 220.0) < 0 < excess("down", 10.0, 180.0, 220.0)
    assert excess("both", 230.0, 180.0, 220.0) == 10.0
