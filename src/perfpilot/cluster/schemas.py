from __future__ import annotations

from perfpilot.core.schemas import CamelModel


class ShardOwner(CamelModel):
    shard: int
    owner: str | None  # the replica holding the shard; null: free (being handed over)


class ShardsOut(CamelModel):
    replica: str  # the replica that answered
    shard_count: int
    live_replicas: int
    shards: list[ShardOwner]
