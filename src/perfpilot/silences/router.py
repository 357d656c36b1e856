"""/silences: operators create and expire them, viewers read them."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query, status

from perfpilot.core.deps import OperatorAuth, SessionDep, ViewerAuth
from perfpilot.core.schemas import Envelope, ListEnvelope
from perfpilot.silences import service
from perfpilot.silences.schemas import SilenceIn, SilenceOut

router = APIRouter(prefix="/silences", tags=["silences"])

_ABOUT = (
    "While a silence is active, alerts its matchers match are still recorded (listed with "
    "`silencedBy`) but send no webhook, reach no Alertmanager and run no action. When it ends "
    "and such an alert is still open, its notification and action resume (within one engine "
    "tick). createdBy is the token's subject."
)


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=Envelope[SilenceOut],
    summary="Create a silence",
    description=_ABOUT,
)
async def create_silence(
    body: SilenceIn, session: SessionDep, principal: OperatorAuth
) -> Envelope[SilenceOut]:
    silence = await service.create_silence(session, body, by=principal.subject)
    return Envelope(data=service.silence_out(silence), message="Silence created")


@router.get(
    "",
    response_model=ListEnvelope[SilenceOut],
    summary="List silences, newest first (expired ones included)",
)
async def list_silences(
    session: SessionDep,
    _: ViewerAuth,
    state: Annotated[Literal["pending", "active", "expired"] | None, Query()] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> ListEnvelope[SilenceOut]:
    rows = await service.list_silences(session, state=state, limit=limit)
    items = [service.silence_out(r) for r in rows]
    return ListEnvelope(data=items, count=len(items), message="Silences retrieved")


@router.get("/{silence_id}", response_model=Envelope[SilenceOut], summary="Read one silence")
async def get_silence(silence_id: str, session: SessionDep, _: ViewerAuth) -> Envelope[SilenceOut]:
    silence = await service.get_silence(session, service.parse_id(silence_id))
    return Envelope(data=service.silence_out(silence), message="Silence retrieved")


@router.delete(
    "/{silence_id}",
    response_model=Envelope[SilenceOut],
    summary="Expire a silence now",
    description="It stays listed (state expired). 409 when it has already expired.",
)
async def expire_silence(
    silence_id: str, session: SessionDep, principal: OperatorAuth
) -> Envelope[SilenceOut]:
    silence = await service.expire_silence(
        session, service.parse_id(silence_id), by=principal.subject
    )
    return Envelope(data=service.silence_out(silence), message="Silence expired")
