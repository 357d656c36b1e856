"""In-process fan-out of committed alert and action changes to live views (SSE).

Publishers call `publish` on the event loop *after* their transaction has committed, so a
subscriber never sees a change that was rolled back. Subscribers hold bounded queues: one that
falls behind loses its oldest events (a live view may skip; the database keeps everything).
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

DEFAULT_QUEUE_SIZE = 1_000


@dataclass(frozen=True, slots=True)
class LiveEvent:
    """`kind` names the change ("alert.fired", "action.executed"); `data` is JSON-ready."""

    kind: str
    data: Mapping[str, Any]
    at: datetime = field(default_factory=lambda: datetime.now(UTC))

    @property
    def service_name(self) -> str | None:
        name = self.data.get("serviceName")
        return name if isinstance(name, str) else None


class EventHub:
    """Publish once, deliver to every subscriber's queue; never blocks the publisher."""

    def __init__(self) -> None:
        self._queues: list[asyncio.Queue[LiveEvent]] = []
        self.dropped = 0

    @property
    def subscribers(self) -> int:
        return len(self._queues)

    @property
    def heard(self) -> bool:
        """Whether a published event reaches anyone (publishers skip rendering one if not)."""
        return bool(self._queues)

    def subscribe(self, *, maxsize: int = DEFAULT_QUEUE_SIZE) -> asyncio.Queue[LiveEvent]:
        queue: asyncio.Queue[LiveEvent] = asyncio.Queue(maxsize=maxsize)
        self._queues.append(queue)
        return queue

    def unsubscribe(self, queue: asyncio.Queue[LiveEvent]) -> None:
        if queue in self._queues:
            self._queues.remove(queue)

    def publish(self, kind: str, data: Mapping[str, Any]) -> None:
        """Deliver `data` (camelCase keys, with `serviceName`) to every subscriber."""
        event = LiveEvent(kind, data)
        for queue in self._queues:
            if queue.full():
                queue.get_nowait()
                self.dropped += 1
            queue.put_nowait(event)
