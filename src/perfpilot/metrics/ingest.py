"""Group commit of ingested samples.

Requests hand their rows to one writer task and await a future; the writer commits everything
that queued up while the previous transaction ran in a single transaction, then resolves every
future. A 201 is only sent after its future resolves, so a 201 means committed, and throughput
grows with concurrency instead of paying one fsync per request.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Sequence

import structlog
from sqlalchemy.ext.asyncio import AsyncEngine

from perfpilot.metrics import repository
from perfpilot.metrics.stream import SampleRow, SampleStream
from perfpilot.monitoring.telemetry import Telemetry

log = structlog.get_logger("perfpilot.ingest")


class IngestWriter:
    def __init__(
        self,
        engine: AsyncEngine,
        *,
        stream: SampleStream,
        telemetry: Telemetry,
        max_rows_per_commit: int = 50_000,
    ) -> None:
        self._engine = engine
        self._stream = stream
        self._telemetry = telemetry
        self._max_rows = max_rows_per_commit
        self._pending: list[tuple[Sequence[SampleRow], asyncio.Future[None]]] = []
        self._wakeup = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._closing = False

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="perfpilot-ingest-writer")

    async def stop(self) -> None:
        """Commit what is queued, then stop."""
        self._closing = True
        self._wakeup.set()
        if self._task is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    @property
    def alive(self) -> bool:
        return self._task is not None and not self._task.done()

    async def submit(self, rows: Sequence[SampleRow]) -> None:
        """Return once the rows are committed; raise what the commit raised."""
        if self._closing or not self.alive:
            raise RuntimeError("ingest writer is not running")
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._pending.append((rows, future))
        self._wakeup.set()
        await future

    def _take_group(self) -> list[tuple[Sequence[SampleRow], asyncio.Future[None]]]:
        taken = 0
        count = 0
        for rows, _ in self._pending:
            if count and taken + len(rows) > self._max_rows:
                break
            taken += len(rows)
            count += 1
        group, self._pending = self._pending[:count], self._pending[count:]
        return group

    async def _run(self) -> None:
        while True:
            if not self._pending:
                if self._closing:
                    return
                self._wakeup.clear()
                await self._wakeup.wait()
                continue
            group = self._take_group()
            rows: list[SampleRow] = []
            for part, _ in group:
                rows.extend(part)
            try:
                async with self._engine.begin() as connection:
                    await repository.insert_samples(connection, rows)
            except Exception as exc:  # every waiter gets the error; the writer keeps going
                log.error("group_commit_failed", rows=len(rows), error=type(exc).__name__)
                for _, future in group:
                    if not future.done():
                        future.set_exception(exc)
                continue
            for _, future in group:
                if not future.done():
                    future.set_result(None)
            self._after_commit(rows)

    def _after_commit(self, rows: list[SampleRow]) -> None:
        telemetry = self._telemetry
        telemetry.group_commit_size.observe(len(rows))
        counts: dict[str, int] = {}
        latest = telemetry.latest
        for row in rows:
            metric_type = row["metric_type"]
            counts[metric_type] = counts.get(metric_type, 0) + 1
            latest.update(
                row["service_name"], metric_type, row["value"], row["timestamp"].timestamp()
            )
        for metric_type, n in counts.items():
            telemetry.samples_ingested.labels(metric_type).inc(n)
        self._stream.publish(rows)
