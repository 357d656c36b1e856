"""Rate limits per token subject (per client address before authentication), with `limits`.

Memory storage by default; with `PERFPILOT_REDIS_URL` the counters live in Redis so several
replicas share them.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Literal, cast

from limits import RateLimitItem, parse
from limits.aio.storage import Storage as AsyncStorage
from limits.aio.strategies import SlidingWindowCounterRateLimiter
from limits.storage import storage_from_string

from perfpilot.core.config import Settings
from perfpilot.core.errors import RateLimited

RouteClass = Literal["read", "write", "ingest", "anonymous"]


@dataclass(slots=True)
class RateLimitStatus:
    limit: int
    remaining: int
    reset_seconds: int

    def headers(self) -> dict[str, str]:
        return {
            "RateLimit-Limit": str(self.limit),
            "RateLimit-Remaining": str(self.remaining),
            "RateLimit-Reset": str(self.reset_seconds),
        }


class RateLimiter:
    """Checks and counts one request against the limit of its route class."""

    def __init__(self, settings: Settings) -> None:
        self.enabled = settings.rate_limit_enabled
        if settings.redis_url:
            uri = settings.redis_url.replace("redis://", "async+redis://", 1)
        else:
            uri = "async+memory://"
        self._storage = cast(AsyncStorage, storage_from_string(uri))  # async+ URIs only
        self._limiter = SlidingWindowCounterRateLimiter(self._storage)
        self._items: dict[RouteClass, RateLimitItem] = {
            "read": parse(settings.rate_limit_read),
            "write": parse(settings.rate_limit_write),
            "ingest": parse(settings.rate_limit_ingest),
            "anonymous": parse(settings.rate_limit_anonymous),
        }

    async def hit(self, route_class: RouteClass, key: str) -> RateLimitStatus | None:
        """Count a request; raise 429 (with Retry-After) when over the limit."""
        if not self.enabled:
            return None
        item = self._items[route_class]
        allowed = await self._limiter.hit(item, route_class, key)
        stats = await self._limiter.get_window_stats(item, route_class, key)
        reset = max(0, math.ceil(stats.reset_time - time.time()))
        status = RateLimitStatus(item.amount, max(0, stats.remaining), reset)
        if not allowed:
            headers = status.headers() | {"Retry-After": str(max(1, reset))}
            raise RateLimited(
                f"Rate limit of {item} exceeded for {route_class} requests; retry later",
            ).with_headers(headers)
        return status

    async def check_storage(self) -> bool:
        return bool(await self._storage.check())
