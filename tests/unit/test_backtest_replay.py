"""The backtest's replay: the engine core's transitions become intervals and actions."""

from __future__ import annotations

import pytest

from perfpilot.backtest.replay import Replay, ReplayTooLong
from perfpilot.engine.state_machine import RuleSpec
from perfpilot.engine.windows import Sample

SPEC = RuleSpec(
    rule_id="r",
    name="low accuracy",
    service_name=None,
    metric="accuracy",
    operator="lt",
    threshold=0.9,
    keep_firing_for=10,
)


def feed(replay: Replay, values: list[tuple[str, float, float]]) -> None:
    replay.add([Sample(service, "accuracy", value, ts) for service, value, ts in values])


def test_each_service_gets_its_own_intervals_and_lt_peaks_are_minima() -> None:
    replay = Replay(spec=SPEC, cooldown=1000, tick_seconds=5, no_data_after=300)
    feed(
        replay,
        [
            ("a", 0.95, 0),
            ("a", 0.8, 10),
            ("b", 0.7, 12),
            ("a", 0.6, 20),
            ("a", 0.99, 30),
            ("b", 0.5, 35),
            ("a", 0.99, 45),
        ],
    )
    replay.finish(60)
    spans = [
        (i.service_name, i.state, i.start, i.end, i.ended_by, i.peak) for i in replay.intervals
    ]
    assert spans == [
        ("a", "firing", 10, 40, "recovered", 0.6),  # safe from 30 s, keepFiringFor 10 s
        ("b", "firing", 12, None, None, 0.5),  # still firing at the end
    ]
    assert [(a.service_name, a.at, a.repeat) for a in replay.actions] == [
        ("a", 10, False),
        ("b", 12, False),
    ]


def test_a_quiet_period_of_many_ticks_stops_when_over_budget() -> None:
    replay = Replay(
        spec=SPEC, cooldown=0, tick_seconds=1, no_data_after=300, over_budget=lambda: True
    )
    feed(replay, [("a", 0.5, 0)])
    with pytest.raises(ReplayTooLong):
        replay.finish(7 * 86400)
