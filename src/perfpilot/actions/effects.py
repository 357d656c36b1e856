"""What each action type does to a service's desired state. Pure: state in, plan out."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any, Literal

PlanStatus = Literal["executed", "skipped"]


@dataclass(frozen=True, slots=True)
class DesiredState:
    """The desired state of one service (what actuators converge to)."""

    instances: int = 1
    model: str | None = None
    fallback_models: tuple[str, ...] = ()
    fallback_active: bool = False
    retry_policy: dict[str, int] = field(default_factory=dict)
    cache_epoch: int = 0

    def as_dict(self) -> dict[str, Any]:
        return {
            "instances": self.instances,
            "model": self.model,
            "fallbackModels": list(self.fallback_models),
            "fallbackActive": self.fallback_active,
            "retryPolicy": dict(self.retry_policy),
            "cacheEpoch": self.cache_epoch,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> DesiredState:
        return cls(
            instances=int(data.get("instances", 1)),
            model=data.get("model"),
            fallback_models=tuple(data.get("fallbackModels", ())),
            fallback_active=bool(data.get("fallbackActive", False)),
            retry_policy=dict(data.get("retryPolicy", {})),
            cache_epoch=int(data.get("cacheEpoch", 0)),
        )


@dataclass(frozen=True, slots=True)
class Bounds:
    min_instances: int = 1
    max_instances: int = 10


@dataclass(frozen=True, slots=True)
class ActionPlan:
    status: PlanStatus
    before: DesiredState
    after: DesiredState
    reason: str | None = None
    changed: tuple[str, ...] = ()


def _skip(state: DesiredState, reason: str) -> ActionPlan:
    return ActionPlan("skipped", state, state, reason)


def _done(before: DesiredState, after: DesiredState, *fields: str) -> ActionPlan:
    return ActionPlan("executed", before, after, None, fields)


def plan_action(
    state: DesiredState, action_type: str, parameters: dict[str, Any], bounds: Bounds
) -> ActionPlan:
    """The effect of one action on `state`, or why it is skipped (no change is never silent)."""
    if action_type in ("scale_up", "scale_down") and parameters.get("instances") == "auto":
        # resolved by perfpilot.sizing before planning; here only when sizing could not run
        return _skip(state, "instances auto not sized")
    if action_type == "scale_up":
        if state.instances >= bounds.max_instances:
            return _skip(state, f"at max instances ({bounds.max_instances})")
        step = int(parameters.get("instances", 1))
        target: int = min(bounds.max_instances, state.instances + step)
        return _done(state, replace(state, instances=target), "instances")
    if action_type == "scale_down":
        if state.instances <= bounds.min_instances:
            return _skip(state, f"at min instances ({bounds.min_instances})")
        target = max(bounds.min_instances, state.instances - int(parameters.get("instances", 1)))
        return _done(state, replace(state, instances=target), "instances")
    if action_type == "cache_clear":
        return _done(state, replace(state, cache_epoch=state.cache_epoch + 1), "cacheEpoch")
    if action_type == "model_switch":
        model = str(parameters["model"])
        expected = parameters.get("fromModel")
        if expected is not None and state.model != expected:
            return _skip(state, f"current model is {state.model!r}, not {expected!r}")
        if state.model == model:
            return _skip(state, f"already on model {model!r}")
        return _done(state, replace(state, model=model), "model")
    if action_type == "retry":
        policy = {
            "maxRetries": int(parameters["maxRetries"]),
            "backoffMs": int(parameters.get("backoffMs", 200)),
        }
        if state.retry_policy == policy:
            return _skip(state, "retry policy already set")
        return _done(state, replace(state, retry_policy=policy), "retryPolicy")
    if action_type == "fallback":
        models = tuple(parameters.get("models") or [parameters["model"]])
        if state.fallback_active and state.fallback_models == models:
            return _skip(state, "fallback already active")
        after = replace(state, fallback_active=True, fallback_models=models)
        return _done(state, after, "fallbackActive", "fallbackModels")
    raise ValueError(f"unknown action type {action_type!r}")


def plan_revert(
    current: DesiredState,
    applied_before: DesiredState,
    applied_after: DesiredState,
    changed: tuple[str, ...],
) -> ActionPlan:
    """Restore the fields an action changed, where they still hold the value it set.

    A field someone (or another rule) has changed since is left alone.
    """
    now, before, after = current.as_dict(), applied_before.as_dict(), applied_after.as_dict()
    restored = dict(now)
    fields = tuple(f for f in changed if now.get(f) == after.get(f))
    if not fields:
        return _skip(current, "changed since by another action; nothing to revert")
    for name in fields:
        restored[name] = before[name]
    return _done(current, DesiredState.from_dict(restored), *fields)
