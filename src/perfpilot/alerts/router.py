"""/alerts: list, read, acknowledge and resolve."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Body, Query

from perfpilot.alerts import repository, service
from perfpilot.alerts.schemas import (
    AlertAcknowledgeIn,
    AlertOut,
    AlertResolveIn,
    AlertStatus,
    Severity,
)
from perfpilot.core.deps import ContextDep, OperatorAuth, SessionDep, ViewerAuth
from perfpilot.core.pagination import decode_cursor, encode_cursor
from perfpilot.core.schemas import Envelope, ErrorEnvelope, ListEnvelope

router = APIRouter(prefix="/alerts", tags=["alerts"])


@router.get("", response_model=ListEnvelope[AlertOut], summary="List alerts, newest first")
async def list_alerts(
    session: SessionDep,
    _: ViewerAuth,
    status: AlertStatus | None = None,
    severity: Severity | None = None,
    service_name: Annotated[str | None, Query(alias="serviceName", max_length=100)] = None,
    rule_id: Annotated[uuid.UUID | None, Query(alias="ruleId")] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    cursor: Annotated[str | None, Query(max_length=500)] = None,
) -> ListEnvelope[AlertOut]:
    rows = await repository.list_alerts(
        session,
        status=status,
        severity=severity,
        service_name=service_name,
        rule_id=rule_id,
        limit=limit + 1,
        after=decode_cursor(cursor) if cursor else None,
    )
    page = list(rows[:limit])
    next_cursor = (
        encode_cursor(page[-1].triggered_at, page[-1].id) if len(rows) > limit and page else None
    )
    return ListEnvelope(
        data=[service.alert_out(a) for a in page],
        count=len(page),
        next_cursor=next_cursor,
        message="Performance alerts retrieved successfully",
    )


@router.get("/{alert_id}", response_model=Envelope[AlertOut], summary="Read one alert")
async def get_alert(alert_id: uuid.UUID, session: SessionDep, _: ViewerAuth) -> Envelope[AlertOut]:
    alert = await service.get_alert(session, alert_id)
    return Envelope(data=service.alert_out(alert), message="Performance alert retrieved")


@router.put(
    "/{alert_id}/acknowledge",
    response_model=Envelope[AlertOut],
    summary="Acknowledge an open alert",
    description="Mutes repeat notifications and repeat actions; does not stop resolution. "
    "A resolved alert cannot be acknowledged (409).",
    responses={409: {"model": ErrorEnvelope, "description": "The alert is resolved"}},
)
async def acknowledge_alert(
    alert_id: uuid.UUID,
    session: SessionDep,
    ctx: ContextDep,
    principal: OperatorAuth,
    body: Annotated[AlertAcknowledgeIn | None, Body()] = None,
) -> Envelope[AlertOut]:
    alert = await service.acknowledge(
        session, ctx, alert_id, by=principal.subject, comment=body.comment if body else None
    )
    return Envelope(data=service.alert_out(alert), message="Performance alert acknowledged")


@router.put(
    "/{alert_id}/resolve",
    response_model=Envelope[AlertOut],
    summary="Resolve an alert by hand",
    description="Reason `manual`, resolvedBy = the token subject. The rule must then be "
    "pending for its duration again before it fires again. Resolving twice is a 409.",
    responses={409: {"model": ErrorEnvelope, "description": "The alert is already resolved"}},
)
async def resolve_alert(
    alert_id: uuid.UUID,
    session: SessionDep,
    ctx: ContextDep,
    principal: OperatorAuth,
    body: Annotated[AlertResolveIn | None, Body()] = None,
) -> Envelope[AlertOut]:
    alert = await service.resolve_manually(
        session, ctx, alert_id, by=principal.subject, comment=body.comment if body else None
    )
    return Envelope(
        data=service.alert_out(alert), message="Performance alert resolved successfully"
    )
