"""In-process fan-out of committed samples to the engine and live views."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, NotRequired, TypedDict

from perfpilot.engine.histograms import Histogram


class SampleRow(TypedDict):
    """A committed sample as stored (canonical value and unit). A histogram sample carries
    `histogram` and `interval_seconds`; its `value` is the interval's mean."""

    id: str  # the UUID in canonical text form
    service_name: str
    metric_type: str
    value: float
    unit: str
    timestamp: datetime
    metadata: dict[str, Any]
    labels: Mapping[str, str]
    series_id: int | None  # the labelled series (metrics/labels.py); None: no labels
    histogram: NotRequired[Histogram]
    interval_seconds: NotRequired[float | None]


@dataclass(frozen=True, slots=True)
class GroupTiming:
    """When a published group's commit began and ended (wall clock, seconds): the engine
    reports an alert's path stage by stage (telemetry's perfpilot_alert_path_seconds)."""

    started: float
    committed: float


Listener = Callable[[list[SampleRow], GroupTiming | None], None]


class SampleStream:
    """Publishes each committed group of samples to every subscriber's queue.

    Subscribers with a bounded queue that fall behind lose the oldest groups (a live view can
    skip); the engine subscribes unbounded because it must see every sample.
    """

    def __init__(self) -> None:
        self._subscribers: list[asyncio.Queue[list[SampleRow]]] = []
        self._listeners: list[Listener] = []
        self.dropped = 0

    def add_listener(self, listener: Listener) -> None:
        """Call `listener` synchronously with every published group and its commit's timing
        (must not block)."""
        self._listeners.append(listener)

    def subscribe(self, *, maxsize: int = 0) -> asyncio.Queue[list[SampleRow]]:
        queue: asyncio.Queue[list[SampleRow]] = asyncio.Queue(maxsize=maxsize)
        self._subscribers.append(queue)
        return queue

    def unsubscribe(self, queue: asyncio.Queue[list[SampleRow]]) -> None:
        if queue in self._subscribers:
            self._subscribers.remove(queue)

    def publish(self, samples: list[SampleRow], timing: GroupTiming | None = None) -> None:
        for listener in self._listeners:
            listener(samples, timing)
        for queue in self._subscribers:
            if queue.full():
                queue.get_nowait()
                self.dropped += 1
            queue.put_nowait(samples)
