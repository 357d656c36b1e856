"""Bindings: which alerts received from Alertmanager run which action on which service."""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime

from sqlalchemy.ext.asyncio import AsyncSession

from perfpilot.alertmanager import repository
from perfpilot.alertmanager.schemas import BindingIn, BindingOut
from perfpilot.core.errors import NotFound
from perfpilot.engine.selectors import Matcher
from perfpilot.models import AlertmanagerBinding
from perfpilot.rules.schemas import ActionOut
from perfpilot.rules.service import stored_action


def parse_id(raw: str) -> uuid.UUID:
    try:
        return uuid.UUID(raw)
    except ValueError:
        raise NotFound(f"Binding {raw!r} not found") from None


async def create_binding(session: AsyncSession, body: BindingIn) -> AlertmanagerBinding:
    now = datetime.now(UTC)
    binding = AlertmanagerBinding(
        id=uuid.uuid4(),
        name=body.name,
        matchers=[m.model_dump() for m in body.matchers],
        service_name=body.service_name,
        service_label=body.service_label,
        action=stored_action(body.action),
        metric=body.metric,
        aggregation=body.aggregation,
        window=body.window,
        is_active=body.is_active,
        last_executed={},
        created_at=now,
        updated_at=now,
    )
    await repository.add_binding(session, binding)
    return binding


async def list_bindings(
    session: AsyncSession, *, active_only: bool = False
) -> Sequence[AlertmanagerBinding]:
    return await repository.list_bindings(session, active_only=active_only)


async def get_binding(session: AsyncSession, binding_id: uuid.UUID) -> AlertmanagerBinding:
    binding = await repository.get_binding(session, binding_id)
    if binding is None:
        raise NotFound(f"Binding {binding_id} not found")
    return binding


async def delete_binding(session: AsyncSession, binding_id: uuid.UUID) -> AlertmanagerBinding:
    binding = await get_binding(session, binding_id)
    await repository.delete_binding(session, binding)
    return binding


def binding_matches(binding: AlertmanagerBinding, labels: Mapping[str, str]) -> bool:
    return all(Matcher(m["label"], m["op"], m["value"]).matches(labels) for m in binding.matchers)


def binding_out(binding: AlertmanagerBinding) -> BindingOut:
    return BindingOut(
        id=binding.id,
        name=binding.name,
        matchers=[{k: str(v) for k, v in m.items()} for m in binding.matchers],
        service_name=binding.service_name,
        service_label=binding.service_label,
        action=ActionOut.model_validate(binding.action),
        metric=binding.metric,
        aggregation=binding.aggregation,
        window=binding.window,
        is_active=binding.is_active,
        created_at=binding.created_at,
        updated_at=binding.updated_at,
    )
