"""Recommendations from a service's recent data; each names the figures it rests on."""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from perfpilot.actions import repository as actions_repo
from perfpilot.autoscaling.service import effective_config
from perfpilot.optimize.schemas import Recommendation

RECENT = timedelta(minutes=15)
HISTORY_LIMIT = 500
# when more instances did not help but another model did, the model is the bottleneck
MODEL_CHANGES = frozenset({"model_switch", "fallback"})


async def _avg(
    session: AsyncSession, service: str, metric: str, now: datetime
) -> tuple[float, int] | None:
    values = await actions_repo.sample_values(
        session, service_name=service, metric_type=metric, start=now - RECENT, end=now
    )
    return (sum(values) / len(values), len(values)) if values else None


async def recommend(session: AsyncSession, service: str, metric: str) -> list[Recommendation]:
    now = datetime.now(UTC)
    out: list[Recommendation] = []
    history = await actions_repo.list_actions(
        session,
        actions_repo.ActionFilter(service_name=service, status="executed"),
        limit=HISTORY_LIMIT,
    )
    by_type: dict[str, list[float]] = defaultdict(list)
    outcomes: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for action in history:
        # an overlapped action's figure is its group's, credited to the group's first action
        if action.metric_type == metric and action.measured_impact is not None and action.credited:
            by_type[action.action_type].append(action.measured_impact)
            outcomes[action.action_type][action.outcome or "unmeasured"] += 1
    means = {kind: sum(v) / len(v) for kind, v in by_type.items()}
    helped = {k: m for k, m in means.items() if m >= 0.02}
    for kind, mean in sorted(means.items()):
        if mean < 0.02:
            better = max(helped.items(), key=lambda kv: kv[1]) if helped else None
            counted = ", ".join(f"{n} {o}" for o, n in sorted(outcomes[kind].items()))
            message = (
                f"{kind} did not measurably improve {metric} of {service}: mean impact "
                f"{mean:+.1%} over {len(by_type[kind])} measured actions ({counted})"
            )
            if better:
                message += (
                    f"; {better[0]} improved it by {better[1]:+.1%} on average "
                    f"({len(by_type[better[0]])} measured) instead"
                )
                if kind == "scale_up" and better[0] in MODEL_CHANGES:
                    message += ": change the model rather than add instances"
            out.append(
                Recommendation(
                    kind="ineffective_action",
                    message=message,
                    evidence={
                        "actionType": kind,
                        "meanImpact": mean,
                        "measured": len(by_type[kind]),
                        "outcomes": dict(outcomes[kind]),
                        "better": {
                            "actionType": better[0],
                            "meanImpact": better[1],
                            "measured": len(by_type[better[0]]),
                            "outcomes": dict(outcomes[better[0]]),
                        }
                        if better
                        else None,
                    },
                )
            )
    config = await effective_config(session, service)
    cpu = await _avg(session, service, "cpu", now)
    state = await actions_repo.get_state(session, service)
    instances = state.instances if state is not None else config.min_instances
    if cpu is not None:
        cpu_avg, n = cpu
        if cpu_avg >= config.scale_up_threshold:
            out.append(
                Recommendation(
                    kind="saturated",
                    message=(
                        f"cpu averaged {cpu_avg:.1f}% over the last 15 min ({n} samples), "
                        f"above the scale-up threshold {config.scale_up_threshold:g}% with "
                        f"{instances} instances: add capacity"
                    ),
                    evidence={
                        "cpuAverage": cpu_avg,
                        "samples": n,
                        "instances": instances,
                        "scaleUpThreshold": config.scale_up_threshold,
                    },
                )
            )
        elif cpu_avg <= config.scale_down_threshold and instances > config.min_instances:
            out.append(
                Recommendation(
                    kind="idle_capacity",
                    message=(
                        f"cpu averaged {cpu_avg:.1f}% over the last 15 min ({n} samples) with "
                        f"{instances} instances, below the scale-down threshold "
                        f"{config.scale_down_threshold:g}%: capacity is idle"
                    ),
                    evidence={
                        "cpuAverage": cpu_avg,
                        "samples": n,
                        "instances": instances,
                        "scaleDownThreshold": config.scale_down_threshold,
                    },
                )
            )
    errors = await _avg(session, service, "error_rate", now)
    if errors is not None and errors[0] >= 0.05 and not (state and state.retry_policy):
        out.append(
            Recommendation(
                kind="errors_without_retry",
                message=(
                    f"error rate averaged {errors[0]:.1%} over the last 15 min ({errors[1]} "
                    f"samples) and no retry policy is set"
                ),
                evidence={"errorRateAverage": errors[0], "samples": errors[1]},
            )
        )
    return out
