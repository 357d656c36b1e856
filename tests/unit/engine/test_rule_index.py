"""The rule index: a sample visits only the rules it can move, yet every rule decides exactly
as it would alone (issue 10 item 4)."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from perfpilot.engine.core import EvaluationCore
from perfpilot.engine.series import RuleGroup
from perfpilot.engine.state_machine import RuleSpec, condition_holds
from perfpilot.engine.windows import Sample

THRESHOLDS = [-1.0, 0.0, 1.0, 2.5, 5.0, 1e15]


def spec(rule_id: str, **fields: Any) -> RuleSpec:
    return RuleSpec(rule_id=rule_id, name=rule_id, service_name=None, metric="latency", **fields)


@settings(max_examples=300, deadline=None)
@given(
    rules=st.lists(
        st.tuples(st.sampled_from(["gt", "gte", "lt", "lte", "eq"]), st.sampled_from(THRESHOLDS)),
        max_size=12,
    ),
    value=st.one_of(st.sampled_from([*THRESHOLDS, -0.0]), st.floats(-10, 10)),
)
def test_holding_is_condition_holds_for_every_rule(
    rules: list[tuple[str, float]], value: float
) -> None:
    specs = [spec(f"r{i}", operator=op, threshold=th) for i, (op, th) in enumerate(rules)]
    group = RuleGroup("last", 60.0, specs)
    expected = {s.rule_id for s in specs if condition_holds(s.operator, value, s.threshold)}
    assert {s.rule_id for s in group.holding(value)} == expected
    if group.quiet_above <= value <= group.quiet_below:
        assert expected == set()


rule_strategy = st.builds(
    lambda op, th, agg, window, service, duration, keep: dict(
        operator=op,
        threshold=th,
        aggregation=agg,
        window=window,
        service_name=service,
        duration=duration,
        keep_firing_for=keep,
    ),
    st.sampled_from(["gt", "gte", "lt", "lte", "eq"]),
    st.sampled_from([0.0, 2.0, 5.0, 7.0]),
    st.sampled_from(["last", "avg", "max", "min", "p95", "sum", "count"]),
    st.sampled_from([5.0, 10.0, 30.0]),
    st.sampled_from([None, "a", "b"]),
    st.sampled_from([0.0, 4.0]),
    st.sampled_from([0.0, 3.0]),
)
operations = st.lists(
    st.one_of(
        st.tuples(
            st.just("sample"), st.sampled_from(["a", "b"]), st.integers(0, 9), st.integers(-3, 6)
        ),
        st.tuples(st.just("tick"), st.just(""), st.just(0), st.integers(0, 400)),
    ),
    max_size=60,
)


@settings(max_examples=150, deadline=None)
@given(rules=st.lists(rule_strategy, min_size=1, max_size=8), ops=operations)
def test_many_rules_together_decide_as_each_alone(
    rules: list[dict[str, Any]], ops: list[tuple[str, str, int, int]]
) -> None:
    specs = [
        RuleSpec(rule_id=f"r{i}", name=f"r{i}", metric="latency", **fields)
        for i, fields in enumerate(rules)
    ]
    together = EvaluationCore(no_data_after=100.0)
    alone = {s.rule_id: EvaluationCore(no_data_after=100.0) for s in specs}
    for s in specs:
        together.upsert_rule(s)
        alone[s.rule_id].upsert_rule(s)
    clock = 1000.0
    for op, service, value, step in ops:
        if op == "sample":
            clock += max(step, 0)
            sample = Sample(service, "latency", float(value), clock + min(step, 0))  # some late
            got = together.evaluate_sample(sample)
            want = [t for core in alone.values() for t in core.evaluate_sample(sample)]
        else:
            clock += step
            got = together.tick(clock)
            want = [t for core in alone.values() for t in core.tick(clock)]
        key = lambda t: (t.rule_id, t.service_name, t.kind.value)  # noqa: E731
        assert sorted(got, key=key) == sorted(want, key=key)
        if op == "sample":  # one series: its rules in id order, as before the index
            assert [t.rule_id for t in got] == sorted(t.rule_id for t in got)
    assert together.take_failures() == []
