"""The process's shared parts, built once by create_app and reachable from every request."""

from __future__ import annotations

import time
from collections.abc import Awaitable
from dataclasses import dataclass, field
from typing import Any, Protocol

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from perfpilot.core.auth import TokenAuthority
from perfpilot.core.config import Settings
from perfpilot.core.outbound import OutboundPolicy
from perfpilot.core.ratelimit import RateLimiter
from perfpilot.metrics.ingest import IngestWriter
from perfpilot.metrics.stream import SampleStream
from perfpilot.monitoring.events import EventHub
from perfpilot.monitoring.telemetry import Telemetry


class EngineControl(Protocol):
    """What request handlers may tell the running engine, after their commit."""

    # An awaitable result is awaited before the response goes out (scale-out: the other
    # replicas have been told, cluster/control.py).
    def rule_changed(self, rule_id: str) -> Awaitable[None] | None: ...

    # group: the alert's groupBy label values, sorted by name ((): not grouped)
    def alert_closed(
        self, rule_id: str, service_name: str, group: tuple[tuple[str, str], ...] = ()
    ) -> Awaitable[None] | None: ...

    def alert_acknowledged(
        self, rule_id: str, service_name: str, group: tuple[tuple[str, str], ...] = ()
    ) -> Awaitable[None] | None: ...


@dataclass
class AppContext:
    settings: Settings
    # writes: on SQLite one connection, writers queue for it (core/db.py); reads: read_engine
    engine: AsyncEngine
    sessionmaker: async_sessionmaker[AsyncSession]
    read_engine: AsyncEngine
    readers: async_sessionmaker[AsyncSession]
    tokens: TokenAuthority
    secret_generated: bool
    limiter: RateLimiter
    telemetry: Telemetry
    samples: SampleStream
    ingest: IngestWriter
    # where webhooks (and scrape targets) may connect; built from settings.outbound_allow
    outbound: OutboundPolicy
    started_monotonic: float = field(default_factory=time.monotonic)
    engine_control: EngineControl | None = None
    # background loops by name, so /health can tell which are alive
    loops: dict[str, Any] = field(default_factory=dict)
    # committed alert/action changes for live views (GET /realtime/stream)
    events: EventHub = field(default_factory=EventHub)

    @property
    def uptime_seconds(self) -> float:
        return time.monotonic() - self.started_monotonic
