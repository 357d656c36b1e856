"""Alertmanager intake: its webhook receiver endpoint, and bindings (admin)."""

from __future__ import annotations

from fastapi import APIRouter, status

from perfpilot.alertmanager import bindings as service
from perfpilot.alertmanager.intake import receive
from perfpilot.alertmanager.schemas import AmWebhook, BindingIn, BindingOut, IntakeOut
from perfpilot.core.deps import AdminAuth, ContextDep, OperatorAuth, SessionDep, ViewerAuth
from perfpilot.core.schemas import Envelope, ListEnvelope
from perfpilot.engine.runner import EngineRunner

router = APIRouter(prefix="/alertmanager", tags=["alertmanager"])


@router.post(
    "/webhook",
    response_model=Envelope[IntakeOut],
    summary="Receive an Alertmanager webhook notification (payload version 4)",
    description="Point an Alertmanager `webhook_configs` receiver here with "
    "`http_config.authorization.credentials` set to an operator token. Each firing alert an "
    "active binding matches opens an alert with source `alertmanager` and runs the binding's "
    "action (cooldown, revert on resolve, impact measured); resolved alerts close it. "
    "Re-sent notifications change nothing: idempotent on (fingerprint, startsAt).",
)
async def alertmanager_webhook(
    body: AmWebhook, session: SessionDep, ctx: ContextDep, _: OperatorAuth
) -> Envelope[IntakeOut]:
    runner = ctx.loops.get("engine")
    coordinator = runner.actions if isinstance(runner, EngineRunner) else None
    out = await receive(session, body, coordinator=coordinator)
    return Envelope(data=out, message="Notification received")


@router.post(
    "/bindings",
    status_code=status.HTTP_201_CREATED,
    response_model=Envelope[BindingOut],
    summary="Bind Alertmanager alerts to a service and an action",
    description="The first active binding (oldest first) whose matchers all match an "
    "incoming alert's labels applies. `action` is a rule's action (type, parameters, "
    "priority, cooldown, revertOnResolve); `metric` is what its impact is measured on.",
)
async def create_binding(
    body: BindingIn, session: SessionDep, _: AdminAuth
) -> Envelope[BindingOut]:
    binding = await service.create_binding(session, body)
    return Envelope(data=service.binding_out(binding), message="Binding created")


@router.get("/bindings", response_model=ListEnvelope[BindingOut], summary="List bindings")
async def list_bindings(session: SessionDep, _: ViewerAuth) -> ListEnvelope[BindingOut]:
    items = [service.binding_out(b) for b in await service.list_bindings(session)]
    return ListEnvelope(data=items, count=len(items), message="Bindings retrieved")


@router.get(
    "/bindings/{binding_id}", response_model=Envelope[BindingOut], summary="Read one binding"
)
async def get_binding(binding_id: str, session: SessionDep, _: ViewerAuth) -> Envelope[BindingOut]:
    binding = await service.get_binding(session, service.parse_id(binding_id))
    return Envelope(data=service.binding_out(binding), message="Binding retrieved")


@router.delete(
    "/bindings/{binding_id}", response_model=Envelope[BindingOut], summary="Delete a binding"
)
async def delete_binding(
    binding_id: str, session: SessionDep, _: AdminAuth
) -> Envelope[BindingOut]:
    binding = await service.delete_binding(session, service.parse_id(binding_id))
    return Envelope(data=service.binding_out(binding), message="Binding deleted")
