"""What each action type does to a service's desired state, its bounds, and reverting it."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from perfpilot.actions.effects import ActionPlan, Bounds, DesiredState, plan_action, plan_revert

BOUNDS = Bounds(min_instances=1, max_instances=10)


def apply(
    state: DesiredState, action_type: str, bounds: Bounds = BOUNDS, **parameters: Any
) -> ActionPlan:
    return plan_action(state, action_type, parameters, bounds)


# --- scale_up / scale_down -------------------------------------------------------------------


def test_scale_up_adds_one_instance_by_default() -> None:
    plan = apply(DesiredState(instances=2), "scale_up")
    assert plan.status == "executed"
    assert plan.before.instances == 2
    assert plan.after.instances == 3
    assert plan.changed == ("instances",)


def test_scale_up_adds_the_requested_step() -> None:
    assert apply(DesiredState(instances=2), "scale_up", instances=3).after.instances == 5


def test_scale_up_is_capped_at_max_instances() -> None:
    plan = apply(DesiredState(instances=8), "scale_up", instances=5)
    assert plan.status == "executed"
    assert plan.after.instances == 10


def test_scale_up_at_max_is_a_skip_with_its_reason() -> None:
    state = DesiredState(instances=10)
    plan = apply(state, "scale_up")
    assert plan.status == "skipped"
    assert plan.reason == "at max instances (10)"
    assert plan.after == state
    assert plan.changed == ()


def test_scale_up_above_a_lowered_max_is_a_skip_not_a_shrink() -> None:
    plan = apply(DesiredState(instances=12), "scale_up")
    assert plan.status == "skipped"
    assert plan.after.instances == 12


def test_scale_down_removes_the_requested_step() -> None:
    plan = apply(DesiredState(instances=6), "scale_down", instances=2)
    assert plan.status == "executed"
    assert plan.after.instances == 4
    assert plan.changed == ("instances",)


def test_scale_down_is_floored_at_min_instances() -> None:
    plan = apply(DesiredState(instances=4), "scale_down", Bounds(2, 10), instances=5)
    assert plan.status == "executed"
    assert plan.after.instances == 2


def test_scale_down_at_min_is_a_skip_with_its_reason() -> None:
    plan = apply(DesiredState(instances=2), "scale_down", Bounds(2, 10))
    assert plan.status == "skipped"
    assert plan.reason == "at min instances (2)"
    assert plan.after.instances == 2


# --- cache_clear -----------------------------------------------------------------------------


def test_cache_clear_bumps_the_epoch_every_time() -> None:
    state = DesiredState(instances=3, cache_epoch=4)
    first = apply(state, "cache_clear")
    second = apply(first.after, "cache_clear")
    assert (first.status, first.after.cache_epoch) == ("executed", 5)
    assert (second.status, second.after.cache_epoch) == ("executed", 6)
    assert first.changed == ("cacheEpoch",)
    assert first.after.instances == 3


# --- model_switch ----------------------------------------------------------------------------


def test_model_switch_without_from_model_switches_from_anything() -> None:
    plan = apply(DesiredState(model="large"), "model_switch", model="small")
    assert plan.status == "executed"
    assert plan.after.model == "small"
    assert plan.changed == ("model",)


def test_model_switch_from_no_model_sets_one() -> None:
    assert apply(DesiredState(), "model_switch", model="small").after.model == "small"


def test_model_switch_with_matching_from_model_switches() -> None:
    plan = apply(DesiredState(model="large"), "model_switch", model="small", fromModel="large")
    assert plan.status == "executed"
    assert plan.after.model == "small"


def test_model_switch_with_other_from_model_is_skipped() -> None:
    plan = apply(DesiredState(model="medium"), "model_switch", model="small", fromModel="large")
    assert plan.status == "skipped"
    assert plan.reason == "current model is 'medium', not 'large'"
    assert plan.after.model == "medium"


def test_model_switch_to_the_current_model_is_skipped() -> None:
    plan = apply(DesiredState(model="small"), "model_switch", model="small")
    assert plan.status == "skipped"
    assert plan.reason == "already on model 'small'"


# --- retry -----------------------------------------------------------------------------------


def test_retry_sets_the_policy_with_default_backoff() -> None:
    plan = apply(DesiredState(), "retry", maxRetries=3)
    assert plan.status == "executed"
    assert plan.after.retry_policy == {"maxRetries": 3, "backoffMs": 200}
    assert plan.changed == ("retryPolicy",)


def test_retry_with_the_policy_already_set_is_skipped() -> None:
    state = DesiredState(retry_policy={"maxRetries": 3, "backoffMs": 500})
    plan = apply(state, "retry", maxRetries=3, backoffMs=500)
    assert plan.status == "skipped"
    assert plan.reason == "retry policy already set"


def test_retry_with_a_different_backoff_changes_the_policy() -> None:
    state = DesiredState(retry_policy={"maxRetries": 3, "backoffMs": 200})
    plan = apply(state, "retry", maxRetries=3, backoffMs=1000)
    assert plan.status == "executed"
    assert plan.after.retry_policy == {"maxRetries": 3, "backoffMs": 1000}


# --- fallback --------------------------------------------------------------------------------


def test_fallback_activates_the_given_models_in_order() -> None:
    plan = apply(DesiredState(model="large"), "fallback", models=["small", "tiny"])
    assert plan.status == "executed"
    assert plan.after.fallback_active is True
    assert plan.after.fallback_models == ("small", "tiny")
    assert plan.after.model == "large"
    assert set(plan.changed) == {"fallbackActive", "fallbackModels"}


def test_fallback_accepts_a_single_model() -> None:
    plan = apply(DesiredState(), "fallback", model="small")
    assert plan.after.fallback_active is True
    assert plan.after.fallback_models == ("small",)


def test_fallback_already_active_on_the_same_models_is_skipped() -> None:
    state = DesiredState(fallback_active=True, fallback_models=("small",))
    plan = apply(state, "fallback", models=["small"])
    assert plan.status == "skipped"
    assert plan.reason == "fallback already active"


def test_fallback_active_on_other_models_switches_them() -> None:
    state = DesiredState(fallback_active=True, fallback_models=("small",))
    plan = apply(state, "fallback", models=["tiny"])
    assert plan.status == "executed"
    assert plan.after.fallback_models == ("tiny",)


def test_fallback_inactive_with_the_same_models_is_activated() -> None:
    state = DesiredState(fallback_active=False, fallback_models=("small",))
    plan = apply(state, "fallback", models=["small"])
    assert plan.status == "executed"
    assert plan.after.fallback_active is True


def test_unknown_action_type_is_an_error() -> None:
    with pytest.raises(ValueError, match="unknown action type 'reboot'"):
        apply(DesiredState(), "reboot")


# --- properties over every action type -------------------------------------------------------

names = st.sampled_from(["large", "medium", "small", "tiny"])
states = st.builds(
    DesiredState,
    instances=st.integers(1, 12),
    model=st.none() | names,
    fallback_models=st.lists(names, max_size=3).map(tuple),
    fallback_active=st.booleans(),
    retry_policy=st.one_of(
        st.just({}),
        st.fixed_dictionaries(
            {"maxRetries": st.integers(0, 3), "backoffMs": st.sampled_from([200, 500])}
        ),
    ),
    cache_epoch=st.integers(0, 5),
)
bounds = st.integers(1, 6).flatmap(lambda lo: st.builds(Bounds, st.just(lo), st.integers(lo, 10)))
# parameters as the rule validation (rules/parameters.py) lets them through
actions = st.one_of(
    st.tuples(st.just("scale_up"), st.fixed_dictionaries({"instances": st.integers(1, 5)})),
    st.tuples(st.just("scale_down"), st.fixed_dictionaries({"instances": st.integers(1, 5)})),
    st.tuples(st.just("cache_clear"), st.just({})),
    st.tuples(
        st.just("model_switch"),
        st.fixed_dictionaries({"model": names}, optional={"fromModel": names}),
    ),
    st.tuples(
        st.just("retry"),
        st.fixed_dictionaries(
            {"maxRetries": st.integers(0, 3), "backoffMs": st.sampled_from([200, 500])}
        ),
    ),
    st.tuples(
        st.just("fallback"),
        st.one_of(
            st.fixed_dictionaries({"models": st.lists(names, min_size=1, max_size=3)}),
            st.fixed_dictionaries({"model": names}),
        ),
    ),
)


@given(states, actions, bounds)
def test_a_plan_changes_something_or_says_why_not(
    state: DesiredState, action: tuple[str, dict[str, Any]], limits: Bounds
) -> None:
    action_type, parameters = action
    plan = plan_action(state, action_type, parameters, limits)
    assert plan.before == state
    if plan.status == "executed":
        assert plan.after != state
        assert plan.reason is None
    else:
        assert plan.after == state
        assert plan.reason
        assert plan.changed == ()


@given(states, actions, bounds)
def test_a_plan_touches_only_the_fields_it_reports(
    state: DesiredState, action: tuple[str, dict[str, Any]], limits: Bounds
) -> None:
    action_type, parameters = action
    plan = plan_action(state, action_type, parameters, limits)
    before, after = plan.before.as_dict(), plan.after.as_dict()
    untouched = set(before) - set(plan.changed)
    assert {k: after[k] for k in untouched} == {k: before[k] for k in untouched}


@given(states, actions, bounds)
def test_scaling_never_leaves_the_bounds_it_started_in(
    state: DesiredState, action: tuple[str, dict[str, Any]], limits: Bounds
) -> None:
    action_type, parameters = action
    inside = limits.min_instances <= state.instances <= limits.max_instances
    plan = plan_action(state, action_type, parameters, limits)
    if inside:
        assert limits.min_instances <= plan.after.instances <= limits.max_instances


@given(states)
def test_desired_state_survives_its_json_form(state: DesiredState) -> None:
    assert DesiredState.from_dict(state.as_dict()) == state


# --- plan_revert -----------------------------------------------------------------------------


def executed(state: DesiredState, action_type: str, **parameters: Any) -> ActionPlan:
    plan = apply(state, action_type, **parameters)
    assert plan.status == "executed"
    return plan


def test_revert_restores_a_field_still_holding_the_actions_value() -> None:
    plan = executed(DesiredState(instances=2), "scale_up")
    revert = plan_revert(plan.after, plan.before, plan.after, plan.changed)
    assert revert.status == "executed"
    assert revert.after.instances == 2
    assert revert.changed == ("instances",)


def test_revert_leaves_a_field_changed_since_alone() -> None:
    plan = executed(DesiredState(instances=2), "scale_up")
    since = replace(plan.after, instances=6)  # another rule scaled further
    revert = plan_revert(since, plan.before, plan.after, plan.changed)
    assert revert.status == "skipped"
    assert revert.reason == "changed since by another action; nothing to revert"
    assert revert.after == since


def test_revert_of_fallback_leaves_the_fallback_and_keeps_later_unrelated_changes() -> None:
    start = DesiredState(instances=2, model="large")
    plan = executed(start, "fallback", models=["small"])
    since = replace(plan.after, instances=4, cache_epoch=1)  # unrelated changes meanwhile
    revert = plan_revert(since, plan.before, plan.after, plan.changed)
    assert revert.status == "executed"
    assert revert.after == DesiredState(instances=4, model="large", cache_epoch=1)


def test_revert_restores_only_the_fields_still_holding_the_actions_value() -> None:
    plan = executed(DesiredState(), "fallback", models=["small"])
    since = replace(plan.after, fallback_models=("tiny",))  # another fallback swapped models
    revert = plan_revert(since, plan.before, plan.after, plan.changed)
    assert revert.status == "executed"
    assert revert.changed == ("fallbackActive",)
    assert revert.after.fallback_active is False
    assert revert.after.fallback_models == ("tiny",)


def test_revert_of_model_switch_goes_back_to_the_previous_model() -> None:
    plan = executed(DesiredState(model="large"), "model_switch", model="small")
    revert = plan_revert(plan.after, plan.before, plan.after, plan.changed)
    assert revert.after.model == "large"


def test_revert_of_a_retry_policy_restores_the_previous_policy() -> None:
    plan = executed(DesiredState(), "retry", maxRetries=2)
    revert = plan_revert(plan.after, plan.before, plan.after, plan.changed)
    assert revert.after.retry_policy == {}
