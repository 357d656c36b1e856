from __future__ import annotations

from datetime import datetime
from typing import Literal

from perfpilot.core.schemas import CamelModel


class HealthServices(CamelModel):
    database: bool
    monitoring: bool
    alerts: bool


class ReplicaHealth(CamelModel):
    """Scale-out only (PERFPILOT_SCALE_OUT on PostgreSQL): this replica's part."""

    id: str
    shards: int  # shards this replica owns
    shard_count: int
    live_replicas: int
    leader: bool
    # times this replica's NOTIFY listener lost its connection (each followed by a resync)
    listen_losses: int = 0


class HealthOut(CamelModel):
    status: Literal["healthy", "degraded", "unhealthy"]
    services: HealthServices
    last_check: datetime
    version: str
    uptime: float
    replica: ReplicaHealth | None = None  # null: one process, no scale-out
