"""One (rule, service) pair that cannot be evaluated never stops the others."""

from __future__ import annotations

import math

from perfpilot.engine.core import EvaluationCore
from perfpilot.engine.windows import Sample, SlidingWindow
from tests.unit.engine.test_core import core_with, kinds, rule


class FaultyWindow(SlidingWindow):
    """Fault injection: a window whose aggregation raises (stands for any future bug)."""

    def aggregate(self, kind: str, *, window: float, now: float) -> float | None:
        raise RuntimeError("broken window")


def break_series(core: EvaluationCore, service: str, metric: str = "latency") -> None:
    core.evaluate_sample(Sample(service, metric, 0.0, 0.0))  # creates the series
    series = core._series[metric][service]
    series.window = FaultyWindow(series.window.horizon)


def test_a_failing_pair_is_reported_and_the_others_still_fire() -> None:
    core = core_with(rule(rule_id="avg", service_name=None, aggregation="avg"))
    break_series(core, "poison")
    out = core.evaluate_batch(
        [Sample("poison", "latency", 500.0, 1.0), Sample("other", "latency", 500.0, 1.0)]
    )
    assert [(t.kind.value, t.service_name) for t in out] == [("fired", "other")]
    [failure] = core.take_failures()
    assert (failure.rule_id, failure.service_name) == ("avg", "poison")
    assert isinstance(failure.error, RuntimeError)
    assert core.take_failures() == []  # taken once

    # ticks isolate the same way
    assert kinds(core.tick(2.0)) == []
    assert [(f.rule_id, f.service_name) for f in core.take_failures()] == [("avg", "poison")]


def test_huge_values_evaluate_without_failures() -> None:
    core = core_with(
        rule(rule_id="avg", service_name=None, aggregation="avg", window=300),
        rule(rule_id="sum", service_name=None, aggregation="sum", window=300),
        rule(rule_id="p99", service_name=None, aggregation="p99", window=300),
    )
    core.load_samples([Sample("poison", "latency", 1.7e308, t) for t in (1.0, 2.0)])
    out = core.evaluate_batch(
        [Sample("poison", "latency", 10.0, 3.0), Sample("other", "latency", 500.0, 3.0)]
    )
    assert core.take_failures() == []
    fired = {(t.rule_id, t.service_name): t.value for t in out}
    assert set(fired) == {(r, s) for r in ("avg", "sum", "p99") for s in ("poison", "other")}
    assert all(v is not None and math.isfinite(v) for v in fired.values())
    assert core.tick(4.0) == [] and core.take_failures() == []


def test_non_finite_samples_are_skipped_and_counted() -> None:
    core = core_with(rule(aggregation="avg"))
    for value in (math.nan, math.inf, -math.inf):
        assert core.evaluate_sample(Sample("chat", "latency", value, 1.0)) == []
    assert core.skipped_samples == 3
    assert core.latest("chat", "latency") is None
    assert kinds(core.evaluate_sample(Sample("chat", "latency", 500.0, 2.0))) == ["fired"]
