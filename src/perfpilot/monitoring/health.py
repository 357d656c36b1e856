"""Health: what is up (database, engine loops, webhook outbox), for people and probes."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from perfpilot import __version__
from perfpilot.core.context import AppContext
from perfpilot.monitoring.schemas import HealthOut, HealthServices, ReplicaHealth

DB_CHECK_TIMEOUT_SECONDS = 2.0


async def database_ok(engine: AsyncEngine) -> bool:
    try:
        async with asyncio.timeout(DB_CHECK_TIMEOUT_SECONDS):
            async with engine.connect() as connection:
                await connection.execute(text("SELECT 1"))
    except Exception:  # any failure means "not usable now"; the reason goes to the log
        return False
    return True


def loops_ok(ctx: AppContext) -> bool:
    """Every engine loop that was started is still running."""
    if not ctx.ingest.alive:
        return False
    return all(getattr(loop, "alive", True) for loop in ctx.loops.values())


def outbox_ok(ctx: AppContext) -> bool:
    dispatcher = ctx.loops.get("webhooks")
    if dispatcher is None:
        return True
    return bool(getattr(dispatcher, "healthy", True))


async def check_health(ctx: AppContext) -> HealthOut:
    db = await database_ok(ctx.read_engine)
    services = HealthServices(database=db, monitoring=loops_ok(ctx), alerts=outbox_ok(ctx))
    if not db:
        overall = "unhealthy"
    elif services.monitoring and services.alerts:
        overall = "healthy"
    else:
        overall = "degraded"
    return HealthOut(
        status=overall,
        services=services,
        last_check=datetime.now(UTC),
        version=__version__,
        uptime=round(ctx.uptime_seconds, 3),
        replica=replica_health(ctx),
    )


def replica_health(ctx: AppContext) -> ReplicaHealth | None:
    manager = ctx.loops.get("shards")  # cluster/ownership.ShardManager, on scale-out only
    if manager is None:
        return None
    return ReplicaHealth(
        id=manager.replica_id,
        shards=len(manager.owned),
        shard_count=manager.shard_count,
        live_replicas=manager.live_replicas,
        leader=manager.leader,
        listen_losses=getattr(ctx.loops.get("cluster_bus"), "listen_losses", 0),
    )
