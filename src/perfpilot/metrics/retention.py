"""Deletes raw samples and finished webhook deliveries past the retention period, and
ingestion idempotency keys past their 24 hours, in chunks, so no single transaction grows
large or holds the write lock for long (SQLite has one writer)."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Protocol

import structlog
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from perfpilot.core.config import Settings
from perfpilot.core.db import set_writer_role
from perfpilot.metrics.histogram_repository import delete_histograms_older_than
from perfpilot.metrics.repository import (
    delete_idempotency_keys_older_than,
    delete_samples_older_than,
)
from perfpilot.metrics.rollups import delete_rollups_older_than
from perfpilot.models import IDEMPOTENCY_KEY_TTL
from perfpilot.webhooks.repository import delete_finished_deliveries

log = structlog.get_logger("perfpilot.retention")


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
        deleted = await self._in_chunks(delete_samples_older_than, cutoff)
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
