"""GET /realtime/stream: server-sent events of what is committed, as it happens.

Events (each `data:` is one JSON object):
- `ready` once, when the subscription is in place (anything committed later is sent);
- `metrics` each second with new samples, one per service: count/avg/min/max/last per type
  of the samples committed during that second;
- `alert.fired`, `alert.resolved`, ... and `action.*`: the committed change (API shape);
- a `: heartbeat` comment when nothing else was sent for `heartbeat` seconds, so proxies and
  clients see the connection alive.
The stream ends when the client disconnects (the server then drops its subscriptions).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from perfpilot.core.context import AppContext
from perfpilot.metrics.stream import SampleRow
from perfpilot.monitoring.events import LiveEvent

FLUSH_SECONDS = 1.0
SAMPLE_QUEUE_GROUPS = 1_024
RETRY_MILLISECONDS = 3_000


def _camel(metric_type: str) -> str:
    head, *rest = metric_type.split("_")
    return head + "".join(part.title() for part in rest)


def sse(event: str, data: dict[str, Any], *, retry: int | None = None) -> str:
    lines = [f"retry: {retry}"] if retry is not None else []
    lines += [f"event: {event}", f"data: {json.dumps(data, separators=(',', ':'))}", "", ""]
    return "\n".join(lines)


HEARTBEAT = ": heartbeat\n\n"


@dataclass
class _Series:
    count: int
    total: float
    minimum: float
    maximum: float
    last: float
    last_at: datetime


class SecondWindow:
    """Samples committed since the last flush, aggregated per (service, type)."""

    def __init__(self, service_name: str | None = None) -> None:
        self._only = service_name
        self._series: dict[tuple[str, str], _Series] = {}

    def add(self, rows: Iterable[SampleRow]) -> None:
        for row in rows:
            service = row["service_name"]
            if self._only is not None and service != self._only:
                continue
            key = (service, row["metric_type"])
            value, at = row["value"], row["timestamp"]
            series = self._series.get(key)
            if series is None:
                self._series[key] = _Series(1, value, value, value, value, at)
                continue
            series.count += 1
            series.total += value
            series.minimum = min(series.minimum, value)
            series.maximum = max(series.maximum, value)
            if at >= series.last_at:
                series.last, series.last_at = value, at

    def flush(self, at: datetime) -> list[dict[str, Any]]:
        """One `metrics` payload per service, by name; the window starts empty again."""
        by_service: dict[str, dict[str, Any]] = {}
        for (service, metric), s in sorted(self._series.items()):
            by_service.setdefault(service, {})[_camel(metric)] = {
                "count": s.count,
                "avg": s.total / s.count,
                "min": s.minimum,
                "max": s.maximum,
                "last": s.last,
                "lastTimestamp": s.last_at.isoformat(),
            }
        self._series.clear()
        stamp = at.isoformat()
        return [
            {"timestamp": stamp, "serviceName": service, "metrics": metrics}
            for service, metrics in by_service.items()
        ]


def _wanted(event: LiveEvent, service_name: str | None) -> bool:
    return service_name is None or event.service_name == service_name


async def live_events(
    ctx: AppContext, *, service_name: str | None, heartbeat: float
) -> AsyncIterator[str]:
    """The SSE body; subscriptions are dropped however the stream ends (disconnect included)."""
    samples = ctx.samples.subscribe(maxsize=SAMPLE_QUEUE_GROUPS)
    changes = ctx.events.subscribe()
    window = SecondWindow(service_name)
    loop = asyncio.get_running_loop()
    try:
        yield sse(
            "ready",
            {"serviceName": service_name, "heartbeatSeconds": heartbeat},
            retry=RETRY_MILLISECONDS,
        )
        last_sent = next_flush = loop.time()
        next_flush += FLUSH_SECONDS
        while True:
            now = loop.time()
            if now >= next_flush:
                while not samples.empty():
                    window.add(samples.get_nowait())
                for payload in window.flush(datetime.now(UTC)):
                    yield sse("metrics", payload)
                    last_sent = now
                if now - last_sent >= heartbeat:
                    yield HEARTBEAT
                    last_sent = now
                next_flush = max(next_flush + FLUSH_SECONDS, now + FLUSH_SECONDS / 10)
                continue
            try:
                async with asyncio.timeout(next_flush - now):
                    event = await changes.get()
            except TimeoutError:
                continue
            if _wanted(event, service_name):
                yield sse(event.kind, dict(event.data))
                last_sent = loop.time()
    finally:
        ctx.samples.unsubscribe(samples)
        ctx.events.unsubscribe(changes)
