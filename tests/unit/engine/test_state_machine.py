"""The (rule, service) state machine on its own: one evaluation in, at most one transition out."""

from __future__ import annotations

import json
from typing import Any

import pytest

from perfpilot.engine.state_machine import (
    AlertTransition,
    Phase,
    RuleSpec,
    RuleState,
    TransitionKind,
    acknowledge,
    condition_holds,
    evaluate,
    manual_resolve,
    mark_no_data,
    resolve_threshold_error,
)

K = TransitionKind


def spec(**overrides: Any) -> RuleSpec:
    fields: dict[str, Any] = {
        "rule_id": "r1",
        "name": "High latency",
        "service_name": "chat",
        "metric": "latency",
        "operator": "gt",
        "threshold": 100.0,
    }
    fields.update(overrides)
    return RuleSpec(**fields)


class Driver:
    """Feeds (time, value) evaluations to one state and records the transitions."""

    def __init__(self, rule: RuleSpec) -> None:
        self.rule = rule
        self.state = RuleState()
        self.log: list[AlertTransition] = []

    def at(self, t: float, value: float | None) -> str | None:
        tr = evaluate(self.rule, self.state, service_name="chat", value=value, at=t, sample_ts=t)
        if tr is not None:
            self.log.append(tr)
        return None if tr is None else tr.kind.value

    def no_data(self, t: float) -> str | None:
        tr = mark_no_data(self.rule, self.state, service_name="chat", at=t)
        return None if tr is None else tr.kind.value


def test_operators_and_eq_tolerance() -> None:
    assert condition_holds("gt", 5.0, 4.0) and not condition_holds("gt", 4.0, 4.0)
    assert condition_holds("gte", 4.0, 4.0) and not condition_holds("gte", 3.9, 4.0)
    assert condition_holds("lt", 3.0, 4.0) and not condition_holds("lt", 4.0, 4.0)
    assert condition_holds("lte", 4.0, 4.0) and not condition_holds("lte", 4.1, 4.0)
    assert condition_holds("eq", 0.1 + 0.2, 0.3)  # 0.30000000000000004
    assert condition_holds("eq", 1000.0 * (1 + 5e-10), 1000.0)
    assert not condition_holds("eq", 1000.0 * (1 + 5e-9), 1000.0)
    assert condition_holds("eq", 1e-13, 0.0)  # tiny absolute floor around zero
    assert not condition_holds("eq", 1e-6, 0.0)
    with pytest.raises(ValueError):
        condition_holds("ne", 1.0, 1.0)


def test_rule_spec_defaults_and_validation() -> None:
    rule = spec()
    assert (rule.duration, rule.aggregation, rule.window, rule.keep_firing_for) == (
        0,
        "last",
        60,
        0,
    )
    assert rule.resolve_at == 100.0 and rule.no_data == "keep" and rule.is_active
    assert spec(resolve_threshold=80.0).resolve_at == 80.0
    bad: list[dict[str, Any]] = [
        {"operator": "ne"},
        {"aggregation": "median"},
        {"no_data": "drop"},
        {"threshold": float("nan")},
        {"window": 0.0},
        {"duration": -1.0},
        {"keep_firing_for": float("inf")},
        {"resolve_threshold": 120.0},  # unsafe side for gt
        {"operator": "lt", "resolve_threshold": 90.0},
        {"operator": "eq", "resolve_threshold": 90.0},
    ]
    for overrides in bad:
        with pytest.raises(ValueError):
            spec(**overrides)
    assert resolve_threshold_error("gte", 10, 10) is None
    assert resolve_threshold_error("lte", 10, 12) is None
    assert "<=" in (resolve_threshold_error("gt", 10, 11) or "")


def test_pending_then_fired_after_duration() -> None:
    d = Driver(spec(duration=60))
    assert d.at(0, 150) == "pending"
    assert d.at(30, 150) is None
    assert d.state.to_dict()["phase"] == "pending" and d.state.pending_since == 0
    assert d.at(59.9, 150) is None
    assert d.at(60, 150) == "fired"
    assert d.state.fired_at == 60 and d.state.phase is Phase.FIRING
    fired = d.log[-1]
    assert (fired.value, fired.threshold, fired.reason, fired.sample_ts) == (
        150,
        100,
        "duration_elapsed",
        60,
    )


def test_pending_cleared_by_a_false_value_resets_the_timer() -> None:
    d = Driver(spec(duration=60))
    assert d.at(0, 150) == "pending"
    assert d.at(50, 90) == "pending_cleared"
    assert d.state.phase is Phase.INACTIVE and d.state.pending_since is None
    assert d.at(55, 150) == "pending"
    assert d.at(100, 150) is None  # 45 s since the new start, not 100
    assert d.at(115, 150) == "fired"


def test_duration_zero_fires_on_the_first_true_evaluation() -> None:
    d = Driver(spec())
    assert d.at(0, 50) is None
    assert d.at(1, 150) == "fired"
    assert d.log[-1].reason == "condition_met"


def test_firing_updates_only_when_the_value_changes() -> None:
    d = Driver(spec())
    d.at(0, 150)
    assert d.at(1, 150) is None
    assert d.at(2, 160) == "updated"
    assert d.log[-1].value == 160 and d.state.last_value == 160
    assert d.at(3, 200) == "updated"  # never a second "fired"


def test_flapping_without_hysteresis_resolves_and_refires() -> None:
    d = Driver(spec())
    kinds = [d.at(t, v) for t, v in enumerate([101, 99, 101, 99])]
    assert kinds == ["fired", "resolved", "fired", "resolved"]
    assert d.log[1].reason == "recovered"


def test_hysteresis_band_keeps_firing() -> None:
    d = Driver(spec(resolve_threshold=80.0))
    assert d.at(0, 101) == "fired"
    assert d.at(1, 99) == "updated"  # below threshold but above resolveThreshold
    assert d.at(2, 81) == "updated"
    assert d.state.phase is Phase.FIRING and d.state.recovering_since is None
    assert d.at(3, 80) == "resolved"  # gt: recovered when <= resolveThreshold


def test_keep_firing_for_holds_then_resolves() -> None:
    d = Driver(spec(keep_firing_for=30))
    d.at(0, 150)
    assert d.at(10, 50) == "updated"
    assert d.state.recovering_since == 10
    assert d.at(39, 40) == "updated"
    assert d.at(40, 40) == "resolved"
    assert d.state.phase is Phase.INACTIVE


def test_recovery_timer_reset_by_an_unsafe_value() -> None:
    d = Driver(spec(keep_firing_for=30, resolve_threshold=80.0))
    d.at(0, 150)
    d.at(10, 50)
    assert d.at(20, 90) == "updated"  # back in the band: unsafe for resolution
    assert d.state.recovering_since is None
    d.at(25, 50)
    assert d.at(50, 50) is None
    assert d.at(55, 50) == "resolved"  # 30 s after 25, not after 10


def test_no_data_keep_marks_once_and_a_value_clears_the_mark() -> None:
    d = Driver(spec())
    d.at(0, 150)
    assert d.no_data(400) == "no_data"
    assert d.state.no_data_marked and d.state.phase is Phase.FIRING
    assert d.no_data(405) is None
    assert d.at(410, 150) == "updated"  # same value, but the mark is lifted
    assert d.log[-1].reason == "data_resumed" and not d.state.no_data_marked
    assert d.no_data(800) == "no_data"


def test_no_data_resolve_and_pending_cleared() -> None:
    d = Driver(spec(no_data="resolve"))
    d.at(0, 150)
    tr = mark_no_data(d.rule, d.state, service_name="chat", at=400)
    assert tr is not None and (tr.kind, tr.reason, tr.value) == (K.RESOLVED, "no_data", None)
    p = Driver(spec(duration=60))
    p.at(0, 150)
    assert p.no_data(400) == "pending_cleared"
    assert p.no_data(405) is None


def test_none_value_holds_every_phase() -> None:
    for rule, values in ((spec(duration=60), [150]), (spec(keep_firing_for=10), [150, 50])):
        d = Driver(rule)
        for t, v in enumerate(values):
            d.at(t, v)
        before = d.state.to_dict()
        assert d.at(1000, None) is None
        assert d.state.to_dict() == before


def test_manual_resolve_requires_duration_again() -> None:
    d = Driver(spec(duration=60))
    d.at(0, 150)
    d.at(60, 150)
    manual_resolve(d.state)
    assert d.state.phase is Phase.INACTIVE
    assert d.at(61, 150) == "pending"
    assert d.at(120, 150) is None
    assert d.at(121, 150) == "fired"


def test_acknowledge_does_not_stop_recovery() -> None:
    d = Driver(spec())
    assert not acknowledge(d.state)  # nothing firing
    d.at(0, 150)
    assert acknowledge(d.state) and d.state.acknowledged
    assert d.at(1, 50) == "resolved"
    assert not d.state.acknowledged


def test_late_time_never_completes_a_timer_early() -> None:
    d = Driver(spec(duration=60, keep_firing_for=30))
    d.at(100, 150)
    assert d.at(40, 150) is None  # earlier than the pending start
    assert d.at(160, 150) == "fired"
    d.at(170, 50)
    assert d.at(150, 50) is None
    assert d.state.phase is Phase.FIRING


def test_state_round_trips_through_json() -> None:
    d = Driver(spec(keep_firing_for=30))
    d.at(0, 150)
    d.at(5, 50)
    acknowledge(d.state)
    data = json.loads(json.dumps(d.state.to_dict()))
    restored = RuleState.from_dict(data)
    assert restored == d.state and restored.recovering_since == 5 and restored.acknowledged
    assert repr(restored).startswith("RuleState(phase='firing'")
    assert RuleState.from_dict({}) == RuleState()
    partial = RuleState.from_dict({"phase": "firing", "fired_at": 10, "acknowledged": True})
    assert partial.fired_at == 10.0 and partial.phase is Phase.FIRING
    inactive = RuleState.from_dict({"phase": "inactive", "fired_at": 10, "acknowledged": True})
    assert inactive == RuleState()


@pytest.mark.parametrize(
    "data",
    [
        {"phase": "open"},
        {"phase": "pending"},
        {"phase": "firing", "fired_at": "yesterday"},
        {"phase": "firing", "fired_at": True},
        {"phase": "firing", "acknowledged": 1},
    ],
)
def test_from_dict_rejects_malformed_states(data: dict[str, object]) -> None:
    with pytest.raises((ValueError, TypeError)):
        RuleState.from_dict(data)
