"""/rules: create, list, read, update and delete optimisation rules (admin to write)."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query, status

from perfpilot.core.context import AppContext
from perfpilot.core.deps import AdminAuth, ContextDep, SessionDep, ViewerAuth
from perfpilot.core.schemas import Envelope, ListEnvelope
from perfpilot.forecast.anomaly import AnomalyBands
from perfpilot.rules import service
from perfpilot.rules.lifecycle import announce_rule_change, delete_rule_and_resolve
from perfpilot.rules.schemas import ActionType, RuleIn, RuleOut, RuleUpdate

router = APIRouter(prefix="/rules", tags=["rules"])


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=Envelope[RuleOut],
    summary="Create a rule",
    description="Only condition.metric/operator/threshold and action.type are required; every "
    "other field gets its documented default. Takes effect on the next sample.",
)
async def create_rule(
    body: RuleIn, session: SessionDep, ctx: ContextDep, _: AdminAuth
) -> Envelope[RuleOut]:
    rule = await service.create_rule(session, body)
    announce_rule_change(session, ctx, rule.id)
    return Envelope(data=service.rule_out(rule), message="Optimization rule created successfully")


@router.get("", response_model=ListEnvelope[RuleOut], summary="List rules")
async def list_rules(
    session: SessionDep,
    ctx: ContextDep,
    _: ViewerAuth,
    service_name: Annotated[str | None, Query(alias="serviceName", max_length=100)] = None,
    is_active: Annotated[bool | None, Query(alias="isActive")] = None,
    action_type: Annotated[ActionType | None, Query(alias="actionType")] = None,
) -> ListEnvelope[RuleOut]:
    rules = await service.list_rules(
        session, service_name=service_name, is_active=is_active, action_type=action_type
    )
    return ListEnvelope(
        data=[service.rule_out(r, _bands(ctx)) for r in rules],
        count=len(rules),
        message="Optimization rules retrieved successfully",
    )


@router.get("/{rule_id}", response_model=Envelope[RuleOut], summary="Read one rule")
async def get_rule(
    rule_id: uuid.UUID, session: SessionDep, ctx: ContextDep, _: ViewerAuth
) -> Envelope[RuleOut]:
    rule = await service.get_rule(session, rule_id)
    return Envelope(
        data=service.rule_out(rule, _bands(ctx)),
        message="Optimization rule retrieved successfully",
    )


def _bands(ctx: AppContext) -> AnomalyBands | None:
    bands = ctx.loops.get("anomaly")
    return bands if isinstance(bands, AnomalyBands) else None


@router.put(
    "/{rule_id}",
    response_model=Envelope[RuleOut],
    summary="Update a rule (partial)",
    description="Absent fields keep their value; condition and action merge key by key.",
)
async def update_rule(
    rule_id: uuid.UUID,
    body: RuleUpdate,
    session: SessionDep,
    ctx: ContextDep,
    _: AdminAuth,
) -> Envelope[RuleOut]:
    rule = await service.update_rule(session, rule_id, body)
    announce_rule_change(session, ctx, rule.id)
    return Envelope(data=service.rule_out(rule), message="Optimization rule updated successfully")


@router.delete(
    "/{rule_id}",
    response_model=Envelope[RuleOut],
    summary="Delete a rule",
    description="Its open alerts resolve with reason `rule_deleted`; alert history is kept.",
)
async def delete_rule(
    rule_id: uuid.UUID,
    session: SessionDep,
    ctx: ContextDep,
    principal: AdminAuth,
) -> Envelope[RuleOut]:
    rule = await delete_rule_and_resolve(session, ctx, rule_id, by=principal.subject)
    return Envelope(data=service.rule_out(rule), message="Optimization rule deleted")
