"""One replica's scale-out parts, put together for create_app: the bus, the sharded engine,
shard ownership and the leader's loops (retention, scrapes)."""

from __future__ import annotations

import asyncio
import os
import socket
import uuid
from collections.abc import Coroutine
from typing import Any

import structlog

from perfpilot.cluster.bus import ClusterBus
from perfpilot.cluster.control import ClusterControl, ClusterEventHub, ScraperRelay, receiver
from perfpilot.cluster.ownership import ShardManager
from perfpilot.core.config import Settings
from perfpilot.core.context import AppContext
from perfpilot.engine.sharded import ShardedEngineRunner

log = structlog.get_logger("perfpilot.cluster")


def replica_name() -> str:
    """host:pid:random, unique among live replicas (shown to admins as a shard's owner)."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


class Replica:
    def __init__(self, ctx: AppContext, settings: Settings) -> None:
        self.id = replica_name()
        self._ctx = ctx
        self._settings = settings
        url = ctx.engine.url.set(drivername="postgresql")
        self.dsn = url.render_as_string(hide_password=False)
        self.bus = ClusterBus(self.dsn, replica_id=self.id)
        events = ClusterEventHub()
        events.bus = self.bus
        ctx.events = events  # before anything subscribes or publishes
        self._events = events
        self.manager: ShardManager | None = None
        self._leader_loops: tuple[Any, Any] | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    def engine(self, **kwargs: Any) -> ShardedEngineRunner:
        return ShardedEngineRunner(
            shard_count=self._settings.shards,
            replica_id=self.id,
            poll_seconds=self._settings.shard_poll_seconds,
            **kwargs,
        )

    async def start(
        self, runner: ShardedEngineRunner, *, scraper: Any, retention: Any, collection: Any
    ) -> None:
        """Wire and start; the engine must have started (rules loaded)."""
        ctx = self._ctx
        ctx.engine_control = ClusterControl(runner, self.bus)
        collection.scraper = ScraperRelay(scraper, self.bus)
        self._leader_loops = (scraper, retention)
        self.bus.on_samples.append(runner.samples_arrived)
        self.bus.on_event.append(receiver(runner, self._events, scraper))
        self.bus.on_resync.append(lambda: self._spawn(self._resync(runner, scraper)))
        ctx.samples.add_listener(lambda _rows, _timing: self.bus.samples_committed())
        await self.bus.start()
        self.manager = ShardManager(
            self.dsn,
            replica_id=self.id,
            shards=self._settings.shards,
            engine=runner,
            check_seconds=self._settings.shard_check_seconds,
            on_leader=self._lead,
        )
        await self.manager.start()
        ctx.loops["shards"] = self.manager
        ctx.loops["cluster_bus"] = self.bus
        log.info("replica_started", replica=self.id, shards=len(self.manager.owned))

    def _spawn(self, work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(work, name="perfpilot-cluster-resync")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _resync(self, runner: ShardedEngineRunner, scraper: Any) -> None:
        try:
            await runner.resync()
            await scraper.resync()
        except Exception:  # the next reconnect tries again; the loops go on meanwhile
            log.exception("cluster_resync_failed", replica=self.id)

    async def _lead(self, leading: bool) -> None:
        assert self._leader_loops is not None
        scraper, retention = self._leader_loops
        if leading:
            await scraper.start()
            retention.start()
        else:
            await scraper.pause()
            await retention.stop()
        log.info("leader" if leading else "leader_lost", replica=self.id)

    async def stop(self) -> None:
        """Give every shard back (committed), then stop listening."""
        if self.manager is not None:
            await self.manager.stop()
        await self.bus.stop()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
