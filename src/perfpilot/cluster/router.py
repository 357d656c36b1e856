"""GET /cluster/shards: who owns each shard (admins; scale-out on PostgreSQL only)."""

from __future__ import annotations

from fastapi import APIRouter

from perfpilot.cluster.schemas import ShardOwner, ShardsOut
from perfpilot.core.deps import AdminAuth, ContextDep
from perfpilot.core.errors import NotFound
from perfpilot.core.schemas import Envelope, ErrorEnvelope

router = APIRouter(prefix="/cluster", tags=["cluster"])


@router.get(
    "/shards",
    response_model=Envelope[ShardsOut],
    summary="Shard owners",
    description="Each shard of services and the live replica that owns it (an advisory lock "
    "held by that replica's session). 404 when scale-out is off.",
    responses={404: {"model": ErrorEnvelope, "description": "Scale-out is off"}},
)
async def shard_owners(ctx: ContextDep, _: AdminAuth) -> Envelope[ShardsOut]:
    manager = ctx.loops.get("shards")
    if manager is None:
        raise NotFound("Scale-out is off (PERFPILOT_SCALE_OUT): one process owns everything")
    owners = await manager.owners()
    return Envelope(
        data=ShardsOut(
            replica=manager.replica_id,
            shard_count=manager.shard_count,
            live_replicas=manager.live_replicas,
            shards=[ShardOwner(shard=k, owner=owners.get(k)) for k in range(manager.shard_count)],
        ),
        message="Shard owners retrieved successfully",
    )
