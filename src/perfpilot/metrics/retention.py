"""Deletes raw samples and finished webhook deliveries past the retention period, and
ingestion idempotency keys past their 24 hours, in chunks, so no single transaction grows
large or holds the write lock for long (SQLite has one writer).

On PostgreSQL the samples table is partitioned by day (metrics/partition_repository.py): each
pass first makes the partitions of today and the days ahead, and drops the days wholly past
retention; the chunked DELETE then only meets the day the cutoff falls in and the default
partition."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Protocol

import structlog
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from perfpilot.core.config import Settings
from perfpilot.core.db import set_writer_role
from perfpilot.metrics.histogram_repository import delete_histograms_older_than
from perfpilot.metrics.partition_repository import (
    create_day_partition,
    day_partitions,
    day_start,
    detach_day_partition,
    drop_detached_day,
    partition_name,
    samples_partitioned,
)
from perfpilot.metrics.repository import (
    delete_idempotency_keys_older_than,
    delete_samples_older_than,
)
from perfpilot.metrics.rollups import delete_rollups_older_than
from perfpilot.models import IDEMPOTENCY_KEY_TTL
from perfpilot.webhooks.repository import delete_finished_deliveries

log = structlog.get_logger("perfpilot.retention")

# partitions are made for today and this many days ahead: a pass that cannot make one (a lock
# it waited for too long) leaves the next passes two days to succeed before samples of that
# day land in the default partition
PARTITION_DAYS_AHEAD = 2


class _ChunkDelete(Protocol):
    async def __call__(
        self, connection: AsyncConnection, cutoff: datetime, *, chunk: int
    ) -> int: ...


class RetentionLoop:
    def __init__(
        self, engine: AsyncEngine, settings: Settings, *, clock: Callable[[], float] = time.time
    ) -> None:
        self._engine = engine
        self._days = settings.retention_days
        self._chunk = settings.retention_chunk_rows
        self._interval = settings.retention_interval_seconds
        self._clock = clock
        self._task: asyncio.Task[None] | None = None
        self.deleted_total = 0
        self._lock = asyncio.Lock()
        self.deliveries_deleted_total = 0
        self.keys_deleted_total = 0

    @property
    def alive(self) -> bool:
        return self._task is not None and not self._task.done()

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="perfpilot-retention")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def run_once(self) -> int:
        """Delete every sample older than the retention period; returns how many."""
        async with self._lock:  # one pass at a time: a manual pass waits for the scheduled one
            return await self._pass()

    async def _pass(self) -> int:
        cutoff = datetime.fromtimestamp(self._clock() - self._days * 86400, UTC)
        deleted = await self._maintain_partitions(cutoff)
        deleted += await self._in_chunks(delete_samples_older_than, cutoff)
        deleted += await self._in_chunks(delete_histograms_older_than, cutoff)
        await self._in_chunks(delete_rollups_older_than, cutoff)
        # finished webhook deliveries follow the same retention; pending ones are kept
        self.deliveries_deleted_total += await self._in_chunks(delete_finished_deliveries, cutoff)
        # idempotency keys are honoured for 24 hours, whatever the samples' retention
        now = datetime.fromtimestamp(self._clock(), UTC)
        expired = now - IDEMPOTENCY_KEY_TTL
        self.keys_deleted_total += await self._in_chunks(
            delete_idempotency_keys_older_than, expired
        )
        self.deleted_total += deleted
        if deleted:
            log.info("retention_deleted", samples=deleted, cutoff=cutoff.isoformat())
        return deleted

    async def _maintain_partitions(self, cutoff: datetime) -> int:
        """Make today's and the next days' partitions; drop those wholly before cutoff.
        Returns how many samples went with them. A step that fails (a lock timeout) is
        logged and left to the next pass."""
        if self._engine.dialect.name != "postgresql":
            return 0
        async with self._engine.connect() as connection:
            if not await samples_partitioned(connection):
                return 0
            days = await day_partitions(connection)
        today = datetime.fromtimestamp(self._clock(), UTC).date()
        for day in (today + timedelta(days=n) for n in range(PARTITION_DAYS_AHEAD + 1)):
            if day in days:
                continue
            try:
                async with self._engine.begin() as connection:
                    moved = await create_day_partition(connection, day)
            except DBAPIError:
                log.warning("partition_not_created", partition=partition_name(day), exc_info=True)
                continue
            log.info("partition_created", partition=partition_name(day), moved=moved)
        dropped = 0
        for day, attached in sorted(days.items()):
            if day_start(day + timedelta(days=1)) > cutoff:
                break
            try:
                # two transactions: the samples table is locked only for the DETACH
                if attached:
                    async with self._engine.begin() as connection:
                        await detach_day_partition(connection, day)
                async with self._engine.begin() as connection:
                    dropped += await drop_detached_day(connection, day)
            except DBAPIError:
                log.warning("partition_not_dropped", partition=partition_name(day), exc_info=True)
                continue
            log.info("partition_dropped", partition=partition_name(day))
        return dropped

    async def _in_chunks(self, delete_chunk: _ChunkDelete, cutoff: datetime) -> int:
        deleted = 0
        while True:
            async with self._engine.begin() as connection:
                gone = await delete_chunk(connection, cutoff, chunk=self._chunk)
            deleted += gone
            if gone < self._chunk:
                return deleted
            await asyncio.sleep(0)  # let requests in between chunks

    async def _run(self) -> None:
        set_writer_role("maintenance")
        while True:
            try:
                await self.run_once()
            except Exception:  # a failed pass is retried at the next interval
                log.exception("retention_failed")
            await asyncio.sleep(self._interval)
