"""Autoscaling configuration: the global default, per-service overrides, validation."""

from __future__ import annotations

from datetime import UTC, datetime

from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncSession

from perfpilot.autoscaling import repository
from perfpilot.autoscaling.policy import ScalingPolicy
from perfpilot.autoscaling.schemas import AutoscalingConfigIn, AutoscalingConfigOut, ConfigValues
from perfpilot.core.errors import InvalidField
from perfpilot.models import GLOBAL_SCOPE, AutoscalingConfig

_FIELDS = (
    "min_instances",
    "max_instances",
    "target_utilization",
    "scale_up_threshold",
    "scale_down_threshold",
    "cooldown_period",
    "enabled",
    "metric",
    "mode",
    "target_latency",
    "latency_statistic",
    "predictive",
    "lead_time_seconds",
)
_CAMEL = {
    "min_instances": "minInstances",
    "max_instances": "maxInstances",
    "target_utilization": "targetUtilization",
    "scale_up_threshold": "scaleUpThreshold",
    "scale_down_threshold": "scaleDownThreshold",
    "cooldown_period": "cooldownPeriod",
    "target_latency": "targetLatency",
    "latency_statistic": "latencyStatistic",
}


async def effective_config(session: AsyncSession, service_name: str | None) -> AutoscalingConfig:
    """The service's override, else the global row, else the built-in default."""
    if service_name is not None:
        own = await repository.get_config(session, service_name)
        if own is not None:
            return own
    return await repository.get_config(session, GLOBAL_SCOPE) or repository.default_config()


def config_out(config: AutoscalingConfig, *, requested: str | None) -> AutoscalingConfigOut:
    return AutoscalingConfigOut(
        service_name=requested,
        inherited=requested is not None and config.service_name != requested,
        min_instances=config.min_instances,
        max_instances=config.max_instances,
        target_utilization=config.target_utilization,
        scale_up_threshold=config.scale_up_threshold,
        scale_down_threshold=config.scale_down_threshold,
        cooldown_period=config.cooldown_period,
        enabled=config.enabled,
        metric=config.metric,
        mode=config.mode or "hpa",
        target_latency=config.target_latency,
        latency_statistic=config.latency_statistic or "p95",
        predictive=bool(config.predictive),
        lead_time=config.lead_time_seconds,
        updated_at=config.updated_at,
    )


def policy_of(config: AutoscalingConfig) -> ScalingPolicy:
    return ScalingPolicy(
        min_instances=config.min_instances,
        max_instances=config.max_instances,
        target_utilization=config.target_utilization,
        scale_up_threshold=config.scale_up_threshold,
        scale_down_threshold=config.scale_down_threshold,
        cooldown_period=float(config.cooldown_period),
    )


async def update_config(
    session: AsyncSession, service_name: str | None, body: AutoscalingConfigIn
) -> AutoscalingConfig:
    """Merge the given fields over the effective configuration and store it for the scope."""
    current = await effective_config(session, service_name)
    merged = {name: getattr(current, name) for name in _FIELDS}
    given = body.model_dump(exclude_unset=True)
    if "lead_time" in given:  # the API's leadTime is the column lead_time_seconds
        given["lead_time_seconds"] = given.pop("lead_time")
    merged.update({k: v for k, v in given.items() if v is not None})
    try:
        values = ConfigValues.model_validate(merged)
    except ValidationError as exc:
        fields = sorted({_CAMEL.get(k, k) for k in body.model_dump(exclude_unset=True)} or {"body"})
        message = "; ".join(str(e["msg"]).removeprefix("Value error, ") for e in exc.errors())
        raise InvalidField(
            f"Invalid autoscaling configuration: {message}",
            details=[{"field": f, "message": message, "type": "value_error"} for f in fields],
        ) from None
    row = AutoscalingConfig(
        service_name=service_name or GLOBAL_SCOPE,
        updated_at=datetime.now(UTC),
        **values.model_dump(),
    )
    return await repository.save_config(session, row)
