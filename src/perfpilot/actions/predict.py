"""Predicted impact of an action: from measured history when there is enough, else from a
stated model, else none. Never a constant."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from sqlalchemy.ext.asyncio import AsyncSession

from perfpilot.actions import repository

MIN_HISTORY = 3
Basis = Literal["history", "model"]


@dataclass(frozen=True, slots=True)
class Prediction:
    impact: float | None
    basis: Basis | None
    n: int
    explanation: str


def scaling_model(
    metric_type: str, *, instances_before: int, instances_after: int, saturated: bool
) -> Prediction | None:
    """Latency ∝ 1/instances for a saturated service (the load spreads over more servers)."""
    if metric_type != "latency" or instances_before == instances_after or instances_after <= 0:
        return None
    if not saturated:
        return None
    # after = before * old/new, so the relative improvement is 1 - old/new
    impact = 1.0 - instances_before / instances_after
    return Prediction(
        impact,
        "model",
        0,
        f"latency ∝ 1/instances for a saturated service: {instances_before} → "
        f"{instances_after} instances",
    )


async def predict(
    session: AsyncSession,
    *,
    service_name: str,
    action_type: str,
    metric_type: str | None,
    instances_before: int,
    instances_after: int,
    saturated: bool,
) -> Prediction:
    if metric_type is None:
        return Prediction(None, None, 0, "no triggering metric")
    history = await repository.measured_impacts(
        session, service_name=service_name, action_type=action_type, metric_type=metric_type
    )
    if len(history) >= MIN_HISTORY:
        mean = sum(history) / len(history)
        return Prediction(
            mean,
            "history",
            len(history),
            f"mean measured impact of {len(history)} earlier {action_type} actions on "
            f"{metric_type} of {service_name}",
        )
    if action_type in ("scale_up", "scale_down"):
        model = scaling_model(
            metric_type,
            instances_before=instances_before,
            instances_after=instances_after,
            saturated=saturated,
        )
        if model is not None:
            return model
    return Prediction(
        None,
        None,
        len(history),
        f"only {len(history)} measured {action_type} actions on {metric_type} (need "
        f"{MIN_HISTORY}) and no model applies",
    )
