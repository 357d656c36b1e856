"""The scrape loop: one task per active target, jittered, a bounded number scraping at once.

Each target runs on its own timer from a random offset within its interval, so targets spread
over time instead of firing together. A scrape holds one of `concurrency` slots for at most its
timeout: a target that hangs costs its own slot until the timeout, never another target's turn.
Bodies are streamed and abandoned past the cap; parsing runs off the event loop; a body that
does not parse marks the target down with the parse error and stores nothing from that scrape.
Health is kept in memory per process and exported on the root /metrics.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime

import httpx
import structlog
from prometheus_client import CollectorRegistry
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from perfpilot.collection import repository
from perfpilot.collection.convert import ConvertOptions, convert_points
from perfpilot.collection.cumulative import CumulativeState
from perfpilot.collection.exposition import ExpositionError, parse_exposition
from perfpilot.collection.hub import CollectionHub
from perfpilot.collection.mapping import MappingEntry, MappingTable
from perfpilot.collection.sink import ingest_collected, unit_accepted
from perfpilot.core.outbound import GuardedTransport, OutboundKind, OutboundPolicy
from perfpilot.metrics.ingest import IngestWriter
from perfpilot.models import ScrapeTarget

log = structlog.get_logger("perfpilot.scrape")
ACCEPT = "text/plain;version=0.0.4;q=1,*/*;q=0.1"


@dataclass(slots=True)
class Health:
    up: bool | None = None
    last_scrape_at: datetime | None = None
    last_duration_ms: float | None = None
    samples: int = 0
    series: int = 0
    last_error: str | None = None


class ScrapeFailed(Exception):
    """The target could not be read; the message goes to its lastError."""


def target_table(target: ScrapeTarget, builtin: MappingTable) -> MappingTable:
    """The mapping a target's samples go through: its preset's, or its explicit one."""
    if target.preset != "prometheus":
        return builtin.for_preset(target.preset)
    entries = [
        MappingEntry.model_validate({**rule, "names": [name], "preset": "prometheus"})
        for name, rule in target.mapping.items()
    ]
    return MappingTable.from_entries(entries)


class ScrapeScheduler:
    def __init__(
        self,
        *,
        sessions: async_sessionmaker[AsyncSession],
        ingest: IngestWriter,
        hub: CollectionHub,
        policy: OutboundPolicy,
        concurrency: int = 64,
        max_body_bytes: int = 10_000_000,
        max_series: int = 10_000,
        max_state_series: int = 1_000_000,
    ) -> None:
        self._sessions = sessions
        self._ingest = ingest
        self._hub = hub
        self._slots = asyncio.Semaphore(concurrency)
        self.max_body_bytes = max_body_bytes
        self.max_series = max_series
        self._state = CumulativeState(max_series=max_state_series)
        self._tasks: dict[uuid.UUID, asyncio.Task[None]] = {}
        self._targets: dict[uuid.UUID, ScrapeTarget] = {}
        self.health: dict[uuid.UUID, Health] = {}
        self._client = httpx.AsyncClient(
            transport=GuardedTransport(
                policy, OutboundKind.scrape, limits=httpx.Limits(max_connections=concurrency)
            ),
            follow_redirects=False,
            trust_env=False,
        )
        self._running = False

    async def start(self) -> None:
        self._running = True
        for target in await repository.load_active_targets(self._sessions):
            self._launch(target)

    async def stop(self) -> None:
        await self.pause()
        await self._client.aclose()

    async def pause(self) -> None:
        """Stop scraping until start() (scale-out: this replica stopped leading)."""
        self._running = False
        tasks = list(self._tasks.values())
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks.clear()

    @property
    def alive(self) -> bool:
        return self._running

    async def reload(self, target_id: uuid.UUID) -> None:
        """Pick up a created, changed or deleted target (called after its commit)."""
        task = self._tasks.pop(target_id, None)
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        async with self._sessions() as session:
            target = await repository.get_target(session, target_id)
            if target is not None:
                session.expunge(target)
        self._state.forget(str(target_id))
        if target is None or not target.is_active:
            self._targets.pop(target_id, None)
            self.health.pop(target_id, None)
            return
        self.health[target_id] = Health()
        if self._running:
            self._launch(target)

    async def resync(self) -> None:
        """Re-read every target, known here or stored (scale-out: changes made on another
        replica while this one was not listening)."""
        stored = {t.id for t in await repository.load_active_targets(self._sessions)}
        for target_id in stored | set(self._targets):
            await self.reload(target_id)

    async def scrape_now(self, target_id: uuid.UUID) -> Health:
        """Scrape one active target at once, outside its timer (tests, a manual check)."""
        target = self._targets.get(target_id)
        if target is None:
            raise KeyError(target_id)
        async with self._slots:
            return await self.scrape_once(target)

    def _launch(self, target: ScrapeTarget) -> None:
        self._targets[target.id] = target
        self.health.setdefault(target.id, Health())
        self._tasks[target.id] = asyncio.create_task(
            self._run(target), name=f"perfpilot-scrape-{target.id}"
        )

    async def _run(self, target: ScrapeTarget) -> None:
        loop = asyncio.get_running_loop()
        await asyncio.sleep(random.uniform(0, target.interval_seconds))  # noqa: S311 - jitter
        next_at = loop.time()
        while True:
            async with self._slots:
                await self.scrape_once(target)
            next_at += target.interval_seconds
            now = loop.time()
            if next_at < now:  # fell behind (a long scrape): skip the missed turns
                next_at = now + target.interval_seconds
            await asyncio.sleep(next_at - now)

    async def scrape_once(self, target: ScrapeTarget) -> Health:
        """Scrape, convert and store one target; its health says how it went."""
        health = self.health.setdefault(target.id, Health())
        started = time.monotonic()
        scraped_at = round(time.time(), 6)  # what a stored timestamp holds exactly
        try:
            async with asyncio.timeout(target.timeout_seconds):
                body = await self._fetch(target)
            points, series = await asyncio.to_thread(
                parse_exposition,
                body,
                service=target.service_name,
                time=scraped_at,
                max_series=self.max_series,
            )
        except TimeoutError:
            return self._record(health, started, up=False, error="timed out")
        except (ScrapeFailed, ExpositionError) as exc:
            return self._record(health, started, up=False, error=str(exc))
        except (httpx.HTTPError, OSError) as exc:
            return self._record(health, started, up=False, error=_describe(exc))
        except Exception as exc:  # e.g. the address policy refusing the destination
            return self._record(health, started, up=False, error=_describe(exc))
        table = target_table(target, self._hub.table)
        options = ConvertOptions(
            table=table,
            preset=self._hub.table.preset_labels(target.preset),
            extra_labels=dict(target.labels),
            key_prefix=str(target.id),
            unit_ok=unit_accepted,
        )
        conversion = convert_points(points, self._state, options)
        self._hub.unmapped.record(conversion.unmapped, source=f"target:{target.id}")
        error = None
        try:
            stored = await ingest_collected(self._ingest, conversion.samples)
        except Exception as exc:  # the store refused or is down: the target itself is fine
            error = f"samples not stored: {_describe(exc)}"
            accepted = 0
        else:
            accepted = stored.accepted
            if stored.rejected:
                error = f"{stored.rejected} samples rejected: {'; '.join(stored.reasons)}"
        health.series = series
        return self._record(health, started, up=True, error=error, samples=accepted)

    async def _fetch(self, target: ScrapeTarget) -> str:
        headers = {**target.headers, "Accept": ACCEPT}
        timeout = httpx.Timeout(target.timeout_seconds)
        async with self._client.stream("GET", target.url, headers=headers, timeout=timeout) as r:
            if r.status_code != 200:
                raise ScrapeFailed(f"HTTP {r.status_code} from the target")
            declared = r.headers.get("content-length", "")
            if declared.isdigit() and int(declared) > self.max_body_bytes:
                raise ScrapeFailed(f"body over the {self.max_body_bytes} byte cap")
            chunks: list[bytes] = []
            size = 0
            async for chunk in r.aiter_bytes():  # decoded: the cap holds after gzip too
                size += len(chunk)
                if size > self.max_body_bytes:
                    raise ScrapeFailed(f"body over the {self.max_body_bytes} byte cap")
                chunks.append(chunk)
        try:
            return b"".join(chunks).decode("utf-8")
        except UnicodeDecodeError as exc:
            raise ScrapeFailed(f"body is not UTF-8 text: {exc}") from None

    @staticmethod
    def _record(
        health: Health, started: float, *, up: bool, error: str | None, samples: int = 0
    ) -> Health:
        health.up = up
        health.last_scrape_at = datetime.now(UTC)
        health.last_duration_ms = round((time.monotonic() - started) * 1000, 3)
        health.samples = samples
        health.last_error = error[:1000] if error else None
        if not up:
            health.series = 0
        return health

    def register_metrics(self, registry: CollectorRegistry) -> None:
        registry.register(_ScrapeCollector(self))

    def targets(self) -> Iterator[tuple[ScrapeTarget, Health]]:
        for target_id, target in list(self._targets.items()):
            yield target, self.health.get(target_id, Health())


def _describe(exc: BaseException) -> str:
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


class _ScrapeCollector(Collector):
    def __init__(self, scheduler: ScrapeScheduler) -> None:
        self._scheduler = scheduler

    def collect(self) -> Iterator[GaugeMetricFamily]:
        labels = ["target", "service"]
        up = GaugeMetricFamily(
            "perfpilot_scrape_up", "1 if the last scrape succeeded", labels=labels
        )
        duration = GaugeMetricFamily(
            "perfpilot_scrape_duration_seconds", "Duration of the last scrape", labels=labels
        )
        samples = GaugeMetricFamily(
            "perfpilot_scrape_samples", "Samples stored from the last scrape", labels=labels
        )
        series = GaugeMetricFamily(
            "perfpilot_scrape_series", "Series in the last scrape's body", labels=labels
        )
        for target, health in self._scheduler.targets():
            if health.up is None:
                continue
            key = [str(target.id), target.service_name]
            up.add_metric(key, 1.0 if health.up else 0.0)
            duration.add_metric(key, (health.last_duration_ms or 0.0) / 1000)
            samples.add_metric(key, health.samples)
            series.add_metric(key, health.series)
        yield from (up, duration, samples, series)
