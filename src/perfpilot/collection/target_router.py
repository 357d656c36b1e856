"""/targets: Prometheus endpoints to scrape (admin writes, viewer reads)."""

from __future__ import annotations

from fastapi import APIRouter, status

from perfpilot.collection import target_service as service
from perfpilot.collection.hub import CollectionDep
from perfpilot.collection.target_schemas import TargetIn, TargetOut, TargetUpdate
from perfpilot.core.deps import AdminAuth, ContextDep, SessionDep, ViewerAuth
from perfpilot.core.schemas import Envelope, ListEnvelope

router = APIRouter(prefix="/targets", tags=["collection"])

_ABOUT = (
    "Presets map the server's metric names onto metric types (tables in the README); "
    "`prometheus` takes an explicit `mapping`. The URL's host is resolved and checked here "
    "(422 naming `url`) and at each scrape: private ranges are allowed (model servers live "
    "there), loopback only when PERFPILOT_OUTBOUND_ALLOW names it, link-local and cloud "
    "metadata never. `headers` are write-only."
)


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=Envelope[TargetOut],
    summary="Add a scrape target",
    description=_ABOUT,
)
async def create_target(
    body: TargetIn, session: SessionDep, ctx: ContextDep, hub: CollectionDep, _: AdminAuth
) -> Envelope[TargetOut]:
    target = await service.create_target(session, body, policy=ctx.outbound, hub=hub)
    return Envelope(data=service.target_out(target, hub), message="Target created")


@router.get(
    "",
    response_model=ListEnvelope[TargetOut],
    summary="List scrape targets with their health",
    description="health: up (null before the first scrape), lastScrapeAt, lastDurationMs, "
    "samples stored from the last scrape, series in its body, lastError.",
)
async def list_targets(
    session: SessionDep, hub: CollectionDep, _: ViewerAuth
) -> ListEnvelope[TargetOut]:
    targets = await service.list_targets(session)
    items = [service.target_out(t, hub) for t in targets]
    return ListEnvelope(data=items, count=len(items), message="Targets retrieved successfully")


@router.get("/{target_id}", response_model=Envelope[TargetOut], summary="Read one target")
async def get_target(
    target_id: str, session: SessionDep, hub: CollectionDep, _: ViewerAuth
) -> Envelope[TargetOut]:
    target = await service.get_target(session, service.parse_id(target_id))
    return Envelope(data=service.target_out(target, hub), message="Target retrieved")


@router.put(
    "/{target_id}",
    response_model=Envelope[TargetOut],
    summary="Update a target (partial)",
    description="Absent fields keep their value; sending `headers` replaces all of them. " + _ABOUT,
)
async def update_target(
    target_id: str,
    body: TargetUpdate,
    session: SessionDep,
    ctx: ContextDep,
    hub: CollectionDep,
    _: AdminAuth,
) -> Envelope[TargetOut]:
    target = await service.update_target(
        session, service.parse_id(target_id), body, policy=ctx.outbound, hub=hub
    )
    return Envelope(data=service.target_out(target, hub), message="Target updated")


@router.delete("/{target_id}", response_model=Envelope[TargetOut], summary="Delete a target")
async def delete_target(
    target_id: str, session: SessionDep, hub: CollectionDep, _: AdminAuth
) -> Envelope[TargetOut]:
    target = await service.delete_target(session, service.parse_id(target_id), hub=hub)
    return Envelope(data=service.target_out(target, hub), message="Target deleted")
