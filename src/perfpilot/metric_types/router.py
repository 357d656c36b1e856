"""/metric-types: the metric registry (viewer reads, admin adds and deletes user types)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, status

from perfpilot.core.deps import AdminAuth, ContextDep, SessionDep, ViewerAuth
from perfpilot.core.schemas import Envelope, ErrorEnvelope, ListEnvelope
from perfpilot.metric_types import service
from perfpilot.metric_types.schemas import MetricTypeIn, MetricTypeOut

router = APIRouter(prefix="/metric-types", tags=["metric types"])

TypeNamePath = Annotated[str, Path(max_length=64, description="A metric type name")]


@router.get(
    "",
    response_model=ListEnvelope[MetricTypeOut],
    summary="List the metric types",
    description="The built-in types (builtin: true) and the user-defined ones.",
)
async def list_metric_types(session: SessionDep, _: ViewerAuth) -> ListEnvelope[MetricTypeOut]:
    types = await service.list_types(session)
    return ListEnvelope(data=types, count=len(types), message="Metric types retrieved")


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=Envelope[MetricTypeOut],
    summary="Add a user-defined metric type",
    description="Samples, rules, reports and live views accept it from the next request. "
    "A built-in or existing name is a 409 naming `name`.",
    responses={409: {"model": ErrorEnvelope, "description": "The name is taken"}},
)
async def create_metric_type(
    body: MetricTypeIn, session: SessionDep, ctx: ContextDep, _: AdminAuth
) -> Envelope[MetricTypeOut]:
    created = await service.create_type(session, body, sessions=ctx.readers)
    return Envelope(data=created, message="Metric type created")


@router.get("/{name}", response_model=Envelope[MetricTypeOut], summary="Get one metric type")
async def get_metric_type(
    name: TypeNamePath, session: SessionDep, _: ViewerAuth
) -> Envelope[MetricTypeOut]:
    return Envelope(data=await service.get_type(session, name), message="Metric type retrieved")


@router.delete(
    "/{name}",
    response_model=Envelope[MetricTypeOut],
    summary="Delete a user-defined metric type",
    description="409 for a built-in type, or while samples, rules or an autoscaling "
    "configuration refer to it.",
    responses={409: {"model": ErrorEnvelope, "description": "Built-in, or in use"}},
)
async def delete_metric_type(
    name: TypeNamePath, session: SessionDep, ctx: ContextDep, _: AdminAuth
) -> Envelope[MetricTypeOut]:
    deleted = await service.delete_type(session, name, sessions=ctx.readers)
    return Envelope(data=deleted, message="Metric type deleted")
