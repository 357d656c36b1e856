"""/services: every known service, and one service's desired state (the actuation interface)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, Response

from perfpilot.core.deps import SessionDep, ViewerAuth
from perfpilot.core.schemas import Envelope, ListEnvelope
from perfpilot.metrics.schemas import SERVICE_NAME_PATTERN
from perfpilot.services import service
from perfpilot.services.paging import DEFAULT_LIMIT, MAX_LIMIT, render_off_loop
from perfpilot.services.schemas import ServiceDetail, ServiceSummary

router = APIRouter(prefix="/services", tags=["services"])


@router.get(
    "",
    response_model=ListEnvelope[ServiceSummary],
    summary="Every known service, by name, in pages",
    description="Services with stored samples or a desired state. `latest` holds the newest "
    "sample of each type that has one (read from the store). Page with `cursor` = the "
    "previous response's `nextCursor` (null on the last page).",
)
async def list_services(
    session: SessionDep,
    _: ViewerAuth,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = DEFAULT_LIMIT,
    cursor: Annotated[str | None, Query(max_length=500)] = None,
) -> Response:
    rows, next_cursor = await service.services_page(session, limit=limit, cursor=cursor)
    return await render_off_loop(
        lambda: ListEnvelope(
            data=service.summaries(rows),
            count=len(rows),
            next_cursor=next_cursor,
            message="Services retrieved successfully",
        )
    )


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
    _: ViewerAuth,
) -> Envelope[ServiceDetail]:
    detail = await service.service_detail(session, service_name)
    return Envelope(data=detail, message="Service retrieved successfully")
