"""/actions: every action taken or skipped, with its state change and measured impact."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query

from perfpilot.actions import repository
from perfpilot.actions.schemas import ActionOut, ActionOutcome, ActionSource, ActionStatus
from perfpilot.actions.serialize import action_out
from perfpilot.core.deps import SessionDep, ViewerAuth
from perfpilot.core.errors import NotFound
from perfpilot.core.pagination import decode_cursor, encode_cursor
from perfpilot.core.schemas import Envelope, ListEnvelope
from perfpilot.rules.schemas import ActionType

router = APIRouter(prefix="/actions", tags=["actions"])


@router.get("", response_model=ListEnvelope[ActionOut], summary="List actions, newest first")
async def list_actions(
    session: SessionDep,
    _: ViewerAuth,
    service_name: Annotated[str | None, Query(alias="serviceName", max_length=100)] = None,
    type: Annotated[ActionType | None, Query()] = None,
    source: ActionSource | None = None,
    status: ActionStatus | None = None,
    outcome: ActionOutcome | None = None,
    rule_id: Annotated[uuid.UUID | None, Query(alias="ruleId")] = None,
    alert_id: Annotated[uuid.UUID | None, Query(alias="alertId")] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    cursor: Annotated[str | None, Query(max_length=500)] = None,
) -> ListEnvelope[ActionOut]:
    filters = repository.ActionFilter(
        service_name=service_name,
        action_type=type,
        source=source,
        status=status,
        outcome=outcome,
        rule_id=rule_id,
        alert_id=alert_id,
    )
    rows = await repository.list_actions(
        session, filters, limit=limit + 1, after=decode_cursor(cursor) if cursor else None
    )
    page = list(rows[:limit])
    next_cursor = (
        encode_cursor(page[-1].executed_at, page[-1].id) if len(rows) > limit and page else None
    )
    return ListEnvelope(
        data=[action_out(a) for a in page],
        count=len(page),
        next_cursor=next_cursor,
        message="Optimization actions retrieved successfully",
    )


@router.get("/{action_id}", response_model=Envelope[ActionOut], summary="Read one action")
async def get_action(
    action_id: uuid.UUID, session: SessionDep, _: ViewerAuth
) -> Envelope[ActionOut]:
    action = await repository.get_action(session, action_id)
    if action is None:
        raise NotFound(f"Action {action_id} not found")
    return Envelope(data=action_out(action), message="Optimization action retrieved")
