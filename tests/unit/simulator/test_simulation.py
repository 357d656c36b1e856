"""The simulation's steps: reproducible with a seed, following the desired state."""

from __future__ import annotations

import itertools

import pytest

from perfpilot.simulator.actuator import ServiceRuntime, TargetState
from perfpilot.simulator.profiles import Spike, Steady
from perfpilot.simulator.run import METRIC_TYPES, SimClock, Simulation, SimulationConfig

START = 1_700_000_000.0


def clock(speed: float = 1.0) -> SimClock:
    return SimClock(start=START, speed=speed, wall=lambda: START + 1e6)


def run(seed: int, *, changes: dict[int, TargetState] | None = None, steps: int = 60) -> list:
    config = SimulationConfig(service="svc", profile=Spike(5, 12, 20, 20), seed=seed)
    sim = Simulation(config, clock=clock())
    out = []
    for i in range(1, steps + 1):
        if changes and i in changes:
            sim.apply(changes[i], START + i)
        out.extend(sim.step(START + i))
    return out


def test_the_same_seed_gives_the_same_run() -> None:
    assert run(7) == run(7)


def test_another_seed_gives_another_run() -> None:
    assert [s["value"] for s in run(7)] != [s["value"] for s in run(8)]


def test_noise_does_not_depend_on_the_state() -> None:
    """State changes change the expected values, never the random draws: after the same
    state, the same seed gives the same samples again."""
    scaled = {10: TargetState(version=2, instances=4), 30: TargetState(version=3, instances=2)}
    plain = [s["value"] for s in run(3, steps=60)]
    changed = [s["value"] for s in run(3, changes=scaled, steps=60)]
    later = slice(8 * 35, None)  # from step 36 on both runs have 2 instances again
    assert plain[later] == changed[later]
    assert plain[: 8 * 9] == changed[: 8 * 9]
    assert plain[8 * 20 : 8 * 21] != changed[8 * 20 : 8 * 21]  # while scaled: other values


def test_a_step_reports_every_metric_type_with_timestamp_and_metadata() -> None:
    sim = Simulation(SimulationConfig(service="svc", model="small-fast"), clock=clock())
    samples = sim.step(START + 1)
    assert [s["metricType"] for s in samples] == list(METRIC_TYPES)
    assert {s["timestamp"] for s in samples} == {"2023-11-14T22:13:21+00:00"}
    assert samples[0]["metadata"] == {
        "model": "small-fast",
        "instances": 2,
        "stateVersion": 0,
        "cacheHitRate": 0.2,
    }
    values = {s["metricType"]: s["value"] for s in samples}
    assert values["success_rate"] == pytest.approx(1 - values["error_rate"])
    assert 0 <= values["cpu"] <= 100


def test_new_instances_serve_after_startup_and_removals_are_immediate() -> None:
    rt = ServiceRuntime(base_model="gpt-large", instances=2, startup_seconds=10)
    assert rt.apply(TargetState(version=2, instances=4), 100.0) == ["instances 2 -> 4"]
    assert rt.ready_instances(105.0) == 2
    assert rt.ready_instances(110.0) == 4
    rt.apply(TargetState(version=3, instances=6), 120.0)
    rt.apply(TargetState(version=4, instances=3), 121.0)  # the starting two go first
    assert rt.desired_instances == 3 and rt.ready_instances(200.0) == 3


def test_an_older_state_is_ignored() -> None:
    rt = ServiceRuntime(base_model="gpt-large", instances=2)
    rt.apply(TargetState(version=5, instances=3), 0.0)
    assert rt.apply(TargetState(version=4, instances=8), 1.0) == []
    assert rt.desired_instances == 3


def test_model_switch_fallback_and_unknown_models() -> None:
    rt = ServiceRuntime(base_model="gpt-xl", instances=2)
    rt.apply(TargetState(version=2, instances=2, model="gpt-large"), 0.0)
    assert rt.model_name == "gpt-large"
    fallback = TargetState(
        version=3, instances=2, model="gpt-large", fallback_models=("nope", "small-fast"),
        fallback_active=True,
    )  # fmt: skip
    rt.apply(fallback, 1.0)
    assert rt.model_name == "small-fast"
    changes = rt.apply(TargetState(version=4, instances=2, model="mystery"), 2.0)
    assert changes == ["unknown model mystery: ignored"] and rt.model_name == "small-fast"
    rt.apply(TargetState(version=5, instances=2, model=None), 3.0)
    assert rt.model_name == "gpt-xl"  # no desired model: the service's own


def test_cache_clear_lowers_the_hit_rate_which_then_recovers() -> None:
    rt = ServiceRuntime(base_model="gpt-large", instances=2, base_cache_hit_rate=0.3)
    rt.apply(TargetState(version=2, instances=2, cache_epoch=5), 0.0)  # adopted, not a clear
    assert rt.cache_hit_rate(1.0) == 0.3
    rt.apply(TargetState(version=3, instances=2, cache_epoch=6), 100.0)
    rates = [rt.cache_hit_rate(100.0 + t) for t in (0, 30, 60, 300)]
    assert rates[0] == 0.0
    assert all(a < b for a, b in itertools.pairwise(rates))
    assert rates[-1] == pytest.approx(0.3, rel=0.01)


def test_retry_policy_applies() -> None:
    rt = ServiceRuntime(base_model="gpt-large", instances=2)
    state = TargetState.from_api(
        {"version": 2, "instances": 2, "retryPolicy": {"maxRetries": 2, "backoffMs": 150}}
    )
    assert rt.apply(state, 0.0) == ["retries 2 (backoff 150 ms)"]
    assert rt.conditions(0.0, 5.0).max_retries == 2


def test_a_compressed_clock_ends_at_the_wall_clock_and_never_passes_it() -> None:
    wall = [1000.0]
    c = SimClock.compressed(duration=100.0, speed=10.0, wall=lambda: wall[0])
    assert c.start == pytest.approx(1000.0 - 90.0)
    assert c.wall_time_of(c.start + 100.0) == pytest.approx(1010.0)  # the end: wall = sim
    assert c.wall_time_of(c.start + 50.0) == pytest.approx(1005.0)
    wall[0] = 1005.0
    assert c.now() == pytest.approx(c.start + 50.0)
    real_time = SimClock(start=2000.0, speed=0.5, wall=lambda: 2000.0)
    assert real_time.wall_time_of(2010.0) == 2020.0  # slower than real time is allowed too


def test_steady_profile_is_the_default() -> None:
    assert isinstance(SimulationConfig().profile, Steady)
