"""Which shard a service belongs to: the same answer in Python and in SQL."""

from __future__ import annotations

import hashlib
from collections.abc import Callable


def shard_of(service_name: str, shards: int) -> int:
    """The first 32 bits of md5(name), modulo the shard count (SHARD_SQL computes the same)."""
    digest = hashlib.md5(service_name.encode(), usedforsecurity=False).hexdigest()
    return int(digest[:8], 16) % shards


def shard_sql(column: str) -> str:
    """SQL for shard_of(column, :shard_count) (PostgreSQL)."""
    return f"mod(('x' || substr(md5({column}), 1, 8))::bit(32)::bigint, :shard_count)"


def owner_test(owned: set[int], shards: int) -> Callable[[str], bool]:
    """A predicate: is this service in one of `owned` (the set is read at each call)?"""
    return lambda service_name: shard_of(service_name, shards) in owned
