"""Label matchers and groupBy in the pure core: which samples a rule sees, one state per group."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from perfpilot.engine.core import EvaluationCore
from perfpilot.engine.selectors import Matcher, Selector, compile_regex, selector
from perfpilot.engine.state_machine import Phase, RuleSpec
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


def core_with(*rules: RuleSpec) -> EvaluationCore:
    core = EvaluationCore(no_data_after=300.0)
    for r in rules:
        core.upsert_rule(r)
    return core


def feed(
    core: EvaluationCore, ts: float, value: float, labels: dict[str, str] | None = None
) -> list[tuple[str, str, tuple[tuple[str, str], ...]]]:
    out = core.evaluate_sample(Sample("chat", "latency", value, ts, labels))
    return [(t.kind.value, t.rule_id, t.group) for t in out]


BY_MODEL = selector(None, ["model"])


@pytest.mark.parametrize(
    ("op", "value", "labels", "expected"),
    [
        ("=", "gpt-4", {"model": "gpt-4"}, True),
        ("=", "gpt-4", {"model": "gpt-4o"}, False),
        ("=", "", {}, True),  # a missing label reads as ""
        ("!=", "gpt-4", {}, True),
        ("!=", "gpt-4", {"model": "gpt-4"}, False),
        ("=~", "gpt-.*", {"model": "gpt-4"}, True),
        ("=~", "gpt", {"model": "gpt-4"}, False),  # anchored: the whole value must match
        ("=~", "gpt", {"model": "xgpt"}, False),
        ("=~", "a|b", {"model": "b"}, True),
        ("!~", "gpt-.*", {"model": "llama"}, True),
        ("!~", "gpt-.*", {"model": "gpt-4"}, False),
        ("!~", ".+", {}, True),
    ],
)
def test_matchers_follow_prometheus(
    op: Any, value: str, labels: dict[str, str], expected: bool
) -> None:
    assert Matcher("model", op, value).matches(labels) is expected


def test_unsafe_or_long_regexes_are_refused() -> None:
    with pytest.raises(ValueError, match="at most 256"):
        compile_regex("a" * 257)
    with pytest.raises(ValueError, match="invalid RE2"):
        compile_regex("(a")
    with pytest.raises(ValueError, match="invalid RE2"):
        compile_regex(r"(a)\1")  # backreferences: not in RE2, which is what keeps it linear


@given(st.dictionaries(st.sampled_from(["model", "region", "tenant"]), st.text(min_size=1)))
def test_a_group_holds_the_group_by_labels_present_sorted(labels: dict[str, str]) -> None:
    group = Selector((), ("region", "model")).group_of(labels)
    assert group == tuple(sorted((k, v) for k, v in labels.items() if k in ("model", "region")))


def test_group_by_fires_one_alert_per_group_value() -> None:
    core = core_with(rule(selector=BY_MODEL))
    assert feed(core, 0, 150, {"model": "a", "region": "eu"}) == [
        ("fired", "r1", (("model", "a"),))
    ]
    assert feed(core, 1, 150, {"model": "a", "region": "us"}) == []  # same group, already firing
    assert feed(core, 2, 150, {"model": "b"}) == [("fired", "r1", (("model", "b"),))]
    assert feed(core, 3, 50, {"model": "c"}) == []
    assert feed(core, 4, 50, {"model": "a"}) == [("resolved", "r1", (("model", "a"),))]
    state = core.state_of("r1", "chat", (("model", "b"),))
    assert state is not None and state.phase is Phase.FIRING
    assert core.state_of("r1", "chat", (("model", "a"),)) is None
    assert core.state_of("r1", "chat") is None  # no ungrouped pair for a grouped rule


def test_each_group_has_its_own_window_and_the_plain_rule_sees_every_sample() -> None:
    grouped = rule(aggregation="avg", window=60, selector=BY_MODEL)
    plain = rule(rule_id="r2", aggregation="avg", window=60, threshold=120.0)
    core = core_with(grouped, plain)
    assert feed(core, 0, 90, {"model": "a"}) == []
    assert feed(core, 1, 90, {"model": "a"}) == []
    # b alone averages 160 (fires for b); everything together averages 113 (r2 stays quiet)
    assert feed(core, 2, 160, {"model": "b"}) == [("fired", "r1", (("model", "b"),))]
    # without a model label a sample joins the group of samples without one (Prometheus' `by`)
    assert feed(core, 3, 95) == []
    assert feed(core, 4, 200) == [("fired", "r2", ()), ("fired", "r1", ())]  # 127; 147.5


def test_matchers_keep_other_samples_out() -> None:
    only_gpt = selector([{"label": "model", "op": "=~", "value": "gpt-.*"}], ["region"])
    core = core_with(rule(selector=only_gpt, aggregation="max", window=60))
    assert feed(core, 0, 500, {"model": "llama", "region": "eu"}) == []
    assert feed(core, 1, 500) == []
    assert feed(core, 2, 150, {"model": "gpt-4", "region": "eu"}) == [
        ("fired", "r1", (("region", "eu"),))
    ]
    assert feed(core, 3, 150, {"model": "gpt-4"}) == [("fired", "r1", ())]  # no region: its own


def test_grouped_states_export_restore_and_survive_no_data_per_group() -> None:
    spec = rule(selector=BY_MODEL, duration=60)
    old = core_with(spec)
    assert feed(old, 0, 150, {"model": "a"}) == [("pending", "r1", (("model", "a"),))]
    assert feed(old, 0, 150, {"model": "b"}) == [("pending", "r1", (("model", "b"),))]
    saved = old.export_states()
    assert set(saved) == {("r1", "chat", (("model", "a"),)), ("r1", "chat", (("model", "b"),))}
    new = core_with(spec)
    for (rule_id, service, group), data in saved.items():
        assert new.restore(rule_id, service, data, group)
    assert not new.restore("r1", "chat", saved[("r1", "chat", (("model", "a"),))], (("x", "1"),))
    assert new.export_states() == saved
    # a keeps its samples and fires on time; b went quiet: its pending clears on no data
    assert feed(new, 60, 150, {"model": "a"}) == [("fired", "r1", (("model", "a"),))]
    transitions = new.tick(301)
    assert [(t.kind.value, t.group) for t in transitions] == [
        ("pending_cleared", (("model", "b"),))
    ]


def test_changing_a_rule_drops_the_states_its_new_selector_does_not_keep() -> None:
    core = core_with(rule(selector=BY_MODEL))
    feed(core, 0, 150, {"model": "a"})
    assert core.upsert_rule(rule(selector=BY_MODEL, threshold=120.0)) == []  # same groups
    assert core.upsert_rule(rule()) == [("r1", "chat", (("model", "a"),))]
    assert feed(core, 1, 150, {"model": "a"}) == [("fired", "r1", ())]
    assert core.remove_rule("r1") == [("r1", "chat", ())]


def test_groups_gone_quiet_or_without_rules_are_forgotten() -> None:
    core = core_with(rule(selector=BY_MODEL, threshold=1e9))
    feed(core, 0, 1, {"model": "a"})
    feed(core, 200, 1, {"model": "b"})
    core.tick(400)  # a: silent for 400 s, no state: forgotten; b: 200 s, kept
    assert set(core._grouped["latency"]["chat"]) == {(BY_MODEL, (("model", "b"),))}
    core.upsert_rule(rule(selector=selector(None, ["region"]), threshold=1e9))
    core.tick(401)
    assert core._grouped["latency"]["chat"] == {}
