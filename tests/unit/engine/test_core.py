"""EvaluationCore: index, windows and states together, driven by samples and explicit time."""

from __future__ import annotations

import gc
import tracemalloc
from dataclasses import replace
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from perfpilot.engine.core import EvaluationCore
from perfpilot.engine.state_machine import AlertTransition, Phase, RuleSpec
from perfpilot.engine.windows import Sample


def rule(**overrides: Any) -> RuleSpec:
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


def core_with(*rules: RuleSpec, no_data_after: float = 300.0) -> EvaluationCore:
    core = EvaluationCore(no_data_after=no_data_after)
    for r in rules:
        core.upsert_rule(r)
    return core


def feed(
    core: EvaluationCore, ts: float, value: float, service: str = "chat", metric: str = "latency"
) -> list[tuple[str, str]]:
    return [
        (t.kind.value, t.service_name)
        for t in core.evaluate_sample(Sample(service, metric, value, ts))
    ]


def kinds(transitions: list[AlertTransition]) -> list[str]:
    return [t.kind.value for t in transitions]


def phase(core: EvaluationCore, rule_id: str = "r1", service: str = "chat") -> Phase:
    state = core.state_of(rule_id, service)
    return Phase.INACTIVE if state is None else state.phase


def test_duration_expires_on_a_tick_without_new_samples() -> None:
    core = core_with(rule(duration=30))
    assert feed(core, 0, 150) == [("pending", "chat")]
    assert kinds(core.tick(29)) == []
    fired = core.tick(30)
    assert kinds(fired) == ["fired"] and fired[0].sample_ts is None and fired[0].at == 30
    assert kinds(core.tick(35)) == []  # never a second "fired"
    # At 60 the only sample leaves the (0, 60] window: an empty window holds the state.
    assert kinds(core.tick(61)) == [] and phase(core) is Phase.FIRING


def test_pending_cleared_by_a_false_sample() -> None:
    core = core_with(rule(duration=60))
    feed(core, 0, 150)
    assert feed(core, 10, 50) == [("pending_cleared", "chat")]
    assert core.state_of("r1", "chat") is None


def test_aggregate_over_the_rule_window() -> None:
    core = core_with(rule(aggregation="avg", window=10))
    assert feed(core, 0, 190) == [("fired", "chat")]
    assert feed(core, 5, 20) == [("updated", "chat")]  # avg 105
    assert feed(core, 10, 0) == [("resolved", "chat")]  # 0 is out: (0, 10] -> avg 10


def test_keep_firing_for_resolves_on_a_tick() -> None:
    core = core_with(rule(keep_firing_for=30, window=120))
    feed(core, 0, 150)
    assert feed(core, 10, 50) == [("updated", "chat")]
    assert kinds(core.tick(39)) == []
    assert kinds(core.tick(40)) == ["resolved"]


def test_no_data_keep_marks_once_and_a_new_sample_clears_it() -> None:
    core = core_with(rule(), no_data_after=300)
    feed(core, 0, 150)
    assert kinds(core.tick(300)) == []  # exactly 300 s is not yet "older than"
    assert kinds(core.tick(301)) == ["no_data"]
    assert kinds(core.tick(306)) == [] and kinds(core.tick(900)) == []
    assert phase(core) is Phase.FIRING
    updated = core.evaluate_sample(Sample("chat", "latency", 150, 905))
    assert [(t.kind.value, t.reason) for t in updated] == [("updated", "data_resumed")]
    assert kinds(core.tick(1300)) == ["no_data"]


def test_no_data_resolve_and_pending_cleared_on_tick() -> None:
    core = core_with(rule(no_data="resolve"), rule(rule_id="r2", duration=600))
    feed(core, 0, 150)
    out = {(t.rule_id, t.kind.value, t.reason) for t in core.tick(400)}
    assert out == {("r1", "resolved", "no_data"), ("r2", "pending_cleared", "no_data")}
    assert core.export_states() == {}


def test_manual_resolve_then_refire_only_after_duration_again() -> None:
    core = core_with(rule(duration=30))
    feed(core, 0, 150)
    assert feed(core, 30, 150) == [("fired", "chat")]
    assert core.manual_resolve("r1", "chat") and not core.manual_resolve("r1", "chat")
    assert feed(core, 31, 150) == [("pending", "chat")]
    assert feed(core, 60, 150) == []
    assert feed(core, 61, 150) == [("fired", "chat")]


def test_acknowledge_then_recovery_resolves() -> None:
    core = core_with(rule())
    assert not core.acknowledge("r1", "chat")
    feed(core, 0, 150)
    assert core.acknowledge("r1", "chat")
    state = core.state_of("r1", "chat")
    assert state is not None and state.acknowledged
    assert feed(core, 1, 50) == [("resolved", "chat")]


def test_out_of_order_sample_older_than_the_window_is_ignored() -> None:
    core = core_with(rule(duration=60, window=60))
    feed(core, 100, 150)
    before = core.export_states()
    assert feed(core, 40, 10) == []  # 40 <= 100 - 60
    assert core.export_states() == before
    assert feed(core, 160, 150) == [("fired", "chat")]


def test_late_sample_inside_the_window_joins_it_at_the_newest_time() -> None:
    core = core_with(rule(aggregation="max", window=60))
    feed(core, 100, 50)
    out = core.evaluate_sample(Sample("chat", "latency", 500, 70))
    assert kinds(out) == ["fired"] and out[0].at == 100 and out[0].sample_ts == 70


def test_wildcard_rule_keeps_one_state_per_service() -> None:
    core = core_with(rule(service_name=None, duration=10))
    assert feed(core, 0, 150, "a") == [("pending", "a")]
    assert feed(core, 5, 150, "b") == [("pending", "b")]
    assert feed(core, 10, 150, "a") == [("fired", "a")]
    assert phase(core, service="b") is Phase.PENDING
    assert feed(core, 11, 50, "b") == [("pending_cleared", "b")]
    assert phase(core, service="a") is Phase.FIRING
    assert feed(core, 12, 500, "a", "cpu") == []  # other metric: untouched
    assert set(core.export_states()) == {("r1", "a", ())}


def test_specific_rule_ignores_other_services() -> None:
    core = core_with(rule())
    assert feed(core, 0, 150, "embed") == []
    assert core.state_of("r1", "embed") is None and core.state_of("nope", "chat") is None


def test_rule_update_takes_effect_on_the_next_sample() -> None:
    core = core_with(rule())
    feed(core, 0, 150)
    assert core.upsert_rule(rule(threshold=200.0)) == []  # same pair: alert stays open
    assert phase(core) is Phase.FIRING
    assert feed(core, 1, 150) == [("resolved", "chat")]
    assert feed(core, 2, 250) == [("fired", "chat")]


def test_rule_update_drops_pairs_it_no_longer_covers() -> None:
    core = core_with(rule(service_name=None))
    feed(core, 0, 150, "a")
    feed(core, 0, 150, "b")
    assert core.upsert_rule(rule(service_name="a")) == [("r1", "b", ())]
    assert core.upsert_rule(rule(service_name="a", metric="cpu")) == [("r1", "a", ())]
    feed(core, 1, 150, "a", "cpu")
    assert core.upsert_rule(rule(service_name="a", metric="cpu", is_active=False)) == [
        ("r1", "a", ())
    ]
    assert feed(core, 2, 150, "a", "cpu") == []
    assert [r.is_active for r in core.rules()] == [False]


def test_remove_rule_returns_the_pairs_with_state() -> None:
    core = core_with(rule(service_name=None, duration=5), rule(rule_id="r2"))
    feed(core, 0, 150, "a")
    feed(core, 0, 150, "b")
    feed(core, 0, 150, "chat")
    assert core.remove_rule("r1") == [("r1", "a", ()), ("r1", "b", ()), ("r1", "chat", ())]
    assert core.remove_rule("r1") == []
    assert set(core.export_states()) == {("r2", "chat", ())}
    assert [r.rule_id for r in core.rules()] == ["r2"]
    assert core.rule("r1") is None and core.rule("r2") == rule(rule_id="r2")


def test_count_rule_fires_on_ticks_when_traffic_stops() -> None:
    core = core_with(rule(metric="throughput", aggregation="count", operator="lt", threshold=1))
    feed(core, 0, 5, metric="throughput")
    assert kinds(core.tick(59)) == []
    assert kinds(core.tick(60)) == ["fired"]  # (0, 60] is empty: count 0 < 1


def test_future_dated_samples_do_not_move_time_backwards() -> None:
    core = core_with(rule(duration=30))
    feed(core, 1000, 150)
    assert kinds(core.tick(990)) == []  # evaluated at 1000, not 990
    assert kinds(core.tick(1030)) == ["fired"]


def test_export_restore_survives_a_restart_without_duplicates() -> None:
    rules = (rule(duration=60), rule(rule_id="r2", threshold=10.0))
    old = core_with(*rules)
    feed(old, 0, 150)
    assert old.state_of("r2", "chat") is not None
    saved = old.export_states()
    new = core_with(*rules)
    for (rule_id, service, _), data in saved.items():
        assert new.restore(rule_id, service, data)
    new.load_samples([Sample("chat", "latency", 150, 0)])
    assert new.export_states() == saved
    assert feed(new, 30, 150) == []  # r2 already firing: no second alert
    assert feed(new, 60, 150) == [("fired", "chat")]  # r1's pending timer kept its start
    assert not new.restore("gone", "chat", saved[("r2", "chat", ())])
    assert not new.restore("r2", "embed", saved[("r2", "chat", ())])
    assert new.restore("r2", "chat", {"phase": "inactive"}) and new.state_of("r2", "chat") is None


def test_restored_state_without_samples_gets_no_data_on_tick() -> None:
    core = core_with(rule())
    assert core.restore("r1", "chat", {"phase": "firing", "fired_at": 0.0})
    assert kinds(core.tick(10)) == ["no_data"]


def test_load_samples_fills_windows_without_transitions() -> None:
    core = core_with(rule(aggregation="avg", window=60))
    core.load_samples([Sample("chat", "latency", v, float(t)) for t, v in enumerate([300, 300])])
    assert core.export_states() == {}
    out = core.evaluate_sample(Sample("chat", "latency", 0, 2))
    assert kinds(out) == ["fired"] and out[0].value == 200


def test_latest_value_is_kept_for_series_without_rules() -> None:
    core = EvaluationCore()
    assert core.latest("chat", "cpu") is None
    for t in range(5):
        core.evaluate_sample(Sample("chat", "cpu", float(t), float(t)))
    assert core.latest("chat", "cpu") == (4.0, 4.0)


# --- properties ----------------------------------------------------------------------------

OPS = ("gt", "lt", "gte", "lte", "eq")


@st.composite
def rule_specs(draw: st.DrawFn, rule_id: str = "r1", service: str | None = None) -> RuleSpec:
    op = draw(st.sampled_from(OPS))
    threshold = float(draw(st.integers(0, 10)))
    offset = float(draw(st.sampled_from([0, 1, 3])))
    resolve = (
        None if op == "eq" else threshold - offset if op in ("gt", "gte") else threshold + offset
    )
    return rule(
        rule_id=rule_id,
        service_name=service,
        operator=op,
        threshold=threshold,
        resolve_threshold=resolve,
        duration=float(draw(st.sampled_from([0, 1, 5, 30]))),
        keep_firing_for=float(draw(st.sampled_from([0, 1, 10]))),
        aggregation=draw(st.sampled_from(["last", "avg", "max", "p90", "count"])),
        window=float(draw(st.sampled_from([1, 10, 60]))),
        no_data=draw(st.sampled_from(["keep", "resolve"])),
    )


services = st.sampled_from(["a", "b"])
steps = st.sampled_from([0.0, 0.5, 1.0, 5.0, 20.0])
operations = st.lists(
    st.one_of(
        st.tuples(st.just("sample"), services, steps, st.integers(0, 10)),
        st.tuples(st.just("tick"), st.just(""), steps, st.just(0)),
        st.tuples(st.just("resolve"), services, st.just(0.0), st.just(0)),
        st.tuples(st.just("ack"), services, st.just(0.0), st.just(0)),
    ),
    max_size=80,
)


@settings(max_examples=300, deadline=None)
@given(spec=rule_specs(), ops=operations)
def test_lifecycle_invariants(spec: RuleSpec, ops: list[tuple[str, str, float, int]]) -> None:
    """(a) never a second open alert per pair; (b) never fired before `duration` of pending."""
    core = EvaluationCore(no_data_after=30)
    core.upsert_rule(spec)
    open_pairs: set[str] = set()
    pending_start: dict[str, float] = {}
    now = 0.0
    for op, service, step, value in ops:
        now += step
        if op == "sample":
            out = core.evaluate_sample(Sample(service, "latency", float(value), now))
        elif op == "tick":
            out = core.tick(now)
        else:
            if op == "resolve" and core.manual_resolve("r1", service):
                open_pairs.discard(service)
                pending_start.pop(service, None)
            elif op == "ack":
                assert core.acknowledge("r1", service) == (service in open_pairs)
            out = []
        for tr in out:
            pair = tr.service_name
            if tr.kind == "fired":
                assert pair not in open_pairs
                start = pending_start.pop(pair, tr.at)
                assert spec.duration == 0 or start < tr.at
                assert tr.at - start >= spec.duration
                open_pairs.add(pair)
            elif tr.kind == "pending":
                assert pair not in open_pairs and pair not in pending_start
                pending_start[pair] = tr.at
            elif tr.kind == "pending_cleared":
                assert pending_start.pop(pair, None) is not None
            elif tr.kind == "resolved":
                open_pairs.remove(pair)
            else:  # updated, no_data: only for an open alert
                assert pair in open_pairs
        for pair in ("a", "b"):
            expected = Phase.INACTIVE
            if pair in open_pairs:
                expected = Phase.FIRING
            elif pair in pending_start:
                expected = Phase.PENDING
            assert phase(core, service=pair) is expected


samples_strategy = st.lists(
    st.builds(
        Sample,
        service_name=services,
        metric_type=st.sampled_from(["latency", "cpu"]),
        value=st.integers(0, 10).map(float),
        ts=st.integers(0, 40).map(float),
    ),
    max_size=60,
)


@settings(max_examples=200, deadline=None)
@given(
    rules=st.tuples(
        rule_specs("r1"),
        rule_specs("r2", "a"),
        rule_specs("r3").map(lambda r: replace(r, metric="cpu")),
    ),
    warmup=samples_strategy,
    batch=samples_strategy,
)
def test_batch_equals_sequential(
    rules: tuple[RuleSpec, ...], warmup: list[Sample], batch: list[Sample]
) -> None:
    """(d) evaluate_batch == evaluate_sample in stable timestamp order, state included."""
    batched, sequential = core_with(*rules), core_with(*rules)
    shift = 100.0  # the batch follows the warm-up in time, with overlap of its windows
    batch = [Sample(s.service_name, s.metric_type, s.value, s.ts + shift) for s in batch]
    got = batched.evaluate_batch(warmup) + batched.evaluate_batch(batch)
    want = [
        tr
        for s in sorted(warmup, key=lambda s: s.ts) + sorted(batch, key=lambda s: s.ts)
        for tr in sequential.evaluate_sample(s)
    ]
    assert got == want
    assert batched.export_states() == sequential.export_states()
    assert batched.tick(200.0) == sequential.tick(200.0)


def test_memory_per_pair_is_under_one_kib() -> None:
    """10,000 firing (rule, service) pairs, measured against the same windows without state."""

    def build(threshold: float) -> tuple[EvaluationCore, int]:
        gc.collect()
        tracemalloc.start()
        core = EvaluationCore()
        for i in range(10):
            core.upsert_rule(rule(rule_id=f"rule-{i}", service_name=None, threshold=threshold))
        for s in range(1000):
            core.evaluate_sample(Sample(f"service-{s}", "latency", 150.0, 1_700_000_000.0 + s))
        gc.collect()
        size = tracemalloc.get_traced_memory()[0]
        tracemalloc.stop()
        return core, size

    idle, idle_size = build(threshold=1e9)
    firing, firing_size = build(threshold=100.0)
    assert len(idle.export_states()) == 0 and len(firing.export_states()) == 10_000
    per_pair = (firing_size - idle_size) / 10_000
    assert per_pair < 1024, f"{per_pair:.0f} bytes per (rule, service) pair"
