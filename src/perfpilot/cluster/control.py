"""What one replica does that the others must hear of, relayed by NOTIFY (cluster/bus.py):
rule changes, alert acknowledge/resolve, scrape target changes (receivers re-read the rows),
and live events for SSE (carried whole: they are what the views show)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Mapping
from typing import Any

import structlog

from perfpilot.cluster.bus import ClusterBus
from perfpilot.core.context import EngineControl
from perfpilot.monitoring.events import EventHub

log = structlog.get_logger("perfpilot.cluster")

Group = tuple[tuple[str, str], ...]


class ClusterEventHub(EventHub):
    """Live events of every replica: publish here and tell the others; theirs arrive by
    `deliver`."""

    def __init__(self) -> None:
        super().__init__()
        self.bus: ClusterBus | None = None

    @property
    def heard(self) -> bool:
        return self.bus is not None or super().heard  # the other replicas' subscribers

    def publish(self, kind: str, data: Mapping[str, Any]) -> None:
        super().publish(kind, data)
        if self.bus is not None:
            self.bus.send({"kind": "live", "event": kind, "data": dict(data)})

    def deliver(self, kind: str, data: Mapping[str, Any]) -> None:
        super().publish(kind, data)


class ClusterControl:
    """EngineControl for request handlers: the local engine, then every other replica."""

    def __init__(self, engine: EngineControl, bus: ClusterBus) -> None:
        self._engine = engine
        self._bus = bus

    # Each returns once PostgreSQL has the notification (awaited before the response): a
    # sample posted after the response is heard of after the change, on every replica.
    def rule_changed(self, rule_id: str) -> Awaitable[None]:
        self._engine.rule_changed(rule_id)
        return self._bus.send_now({"kind": "rule", "rule": rule_id})

    def alert_closed(self, rule_id: str, service_name: str, group: Group = ()) -> Awaitable[None]:
        self._engine.alert_closed(rule_id, service_name, group)
        message = {"kind": "closed", "rule": rule_id, "service": service_name}
        return self._bus.send_now({**message, "group": group})

    def alert_acknowledged(
        self, rule_id: str, service_name: str, group: Group = ()
    ) -> Awaitable[None]:
        self._engine.alert_acknowledged(rule_id, service_name, group)
        message = {"kind": "acknowledged", "rule": rule_id, "service": service_name}
        return self._bus.send_now({**message, "group": group})


class ScraperRelay:
    """Stands for the ScrapeScheduler in request handlers: a target change reloads it here
    and on every other replica (only the leader's scheduler runs: ownership.py)."""

    def __init__(self, scheduler: Any, bus: ClusterBus) -> None:
        self.scheduler = scheduler
        self._bus = bus

    async def reload(self, target_id: uuid.UUID) -> None:
        self._bus.send({"kind": "target", "target": str(target_id)})
        await self.scheduler.reload(target_id)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.scheduler, name)


def receiver(engine: EngineControl, events: ClusterEventHub, scraper: Any) -> Any:
    """The bus handler: apply another replica's message here."""
    tasks: set[asyncio.Task[None]] = set()

    def received(message: dict[str, Any]) -> None:
        kind = message.get("kind")
        if kind == "live":
            events.deliver(str(message["event"]), message["data"])
        elif kind == "rule":
            engine.rule_changed(str(message["rule"]))
        elif kind in ("closed", "acknowledged"):
            group = tuple((str(k), str(v)) for k, v in message.get("group") or ())
            if kind == "closed":
                engine.alert_closed(str(message["rule"]), str(message["service"]), group)
            else:
                engine.alert_acknowledged(str(message["rule"]), str(message["service"]), group)
        elif kind == "target" and scraper is not None:
            task = asyncio.create_task(scraper.reload(uuid.UUID(str(message["target"]))))
            tasks.add(task)
            task.add_done_callback(tasks.discard)

    return received
