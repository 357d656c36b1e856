"""/services: every known service, and one service's desired state (the actuation interface)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path

from perfpilot.core.deps import ContextDep, SessionDep, ViewerAuth
from perfpilot.core.schemas import Envelope, ListEnvelope
from perfpilot.metrics.schemas import SERVICE_NAME_PATTERN
from perfpilot.services import service
from perfpilot.services.schemas import ServiceDetail, ServiceSummary

router = APIRouter(prefix="/services", tags=["services"])


@router.get("", response_model=ListEnvelope[ServiceSummary], summary="Every known service")
async def list_services(
    session: SessionDep, ctx: ContextDep, _: ViewerAuth
) -> ListEnvelope[ServiceSummary]:
    items = await service.list_services(session, ctx)
    return ListEnvelope(data=items, count=len(items), message="Services retrieved successfully")


@router.get(
    "/{service_name}",
    response_model=Envelope[ServiceDetail],
    summary="One service: desired state, latest metrics, open alerts, recent actions",
    description="`state` is the desired state actuators converge to (poll it, or subscribe "
    "to `state.changed` webhooks); `state.version` increases with every change.",
)
async def get_service(
    service_name: Annotated[str, Path(max_length=100, pattern=SERVICE_NAME_PATTERN)],
    session: SessionDep,
    ctx: ContextDep,
    _: ViewerAuth,
) -> Envelope[ServiceDetail]:
    detail = await service.service_detail(session, ctx, service_name)
    return Envelope(data=detail, message="Service retrieved successfully")
