"""/autoscaling/config: the global default and per-service overrides."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from perfpilot.autoscaling import service
from perfpilot.autoscaling.schemas import AutoscalingConfigIn, AutoscalingConfigOut
from perfpilot.core.deps import AdminAuth, SessionDep, ViewerAuth
from perfpilot.core.schemas import Envelope
from perfpilot.metrics.schemas import SERVICE_NAME_PATTERN

router = APIRouter(prefix="/autoscaling", tags=["autoscaling"])
ServiceQuery = Annotated[
    str | None,
    Query(
        alias="serviceName",
        max_length=100,
        pattern=SERVICE_NAME_PATTERN,
        description="A service's override; absent = the global default",
    ),
]


@router.get(
    "/config",
    response_model=Envelope[AutoscalingConfigOut],
    summary="Read the autoscaling configuration",
)
async def get_config(
    session: SessionDep, _: ViewerAuth, service_name: ServiceQuery = None
) -> Envelope[AutoscalingConfigOut]:
    config = await service.effective_config(session, service_name)
    return Envelope(
        data=service.config_out(config, requested=service_name),
        message="Auto-scaling configuration retrieved successfully",
    )


@router.put(
    "/config",
    response_model=Envelope[AutoscalingConfigOut],
    summary="Update the autoscaling configuration",
    description="Partial: given fields merge over the current values, then the whole is "
    "validated (1 <= min <= max, scaleDown < target < scaleUp, cooldown >= 0).",
)
async def put_config(
    body: AutoscalingConfigIn, session: SessionDep, _: AdminAuth, service_name: ServiceQuery = None
) -> Envelope[AutoscalingConfigOut]:
    config = await service.update_config(session, service_name, body)
    return Envelope(
        data=service.config_out(config, requested=service_name),
        message="Auto-scaling configuration updated successfully",
    )
