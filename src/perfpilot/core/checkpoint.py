"""WAL checkpoints off the write path (SQLite).

By default SQLite checkpoints inside the COMMIT that pushes the WAL past 1,000 pages: that
commit copies the WAL into the database file and fsyncs it, on the one write connection, while
every other writer waits for its turn (under load, a commit took up to 1.8 s this way). The
write connection has automatic checkpoints off (core/db.py); this loop runs a PASSIVE
checkpoint every `interval` seconds on a read connection instead. PASSIVE never waits for a
lock nor calls the busy handler: it copies what no reader still needs, and the writer keeps
appending to the WAL meanwhile.
"""

from __future__ import annotations

import asyncio
import contextlib

import structlog
from sqlalchemy.ext.asyncio import AsyncEngine

log = structlog.get_logger("perfpilot.checkpoint")

CHECKPOINT_INTERVAL_SECONDS = 1.0


class WalCheckpointer:
    def __init__(self, engine: AsyncEngine, *, interval: float = CHECKPOINT_INTERVAL_SECONDS):
        self._engine = engine
        self._interval = interval
        self._task: asyncio.Task[None] | None = None
        self.checkpoints = 0

    @property
    def alive(self) -> bool:
        return self._task is not None and not self._task.done()

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="perfpilot-wal-checkpoint")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        with contextlib.suppress(Exception):  # best effort: the last connection's close does it
            await self.checkpoint()

    async def checkpoint(self) -> tuple[int, int, int]:
        """PRAGMA wal_checkpoint(PASSIVE): (busy, WAL frames, frames checkpointed)."""
        async with self._engine.connect() as connection:
            result = await connection.exec_driver_sql("PRAGMA wal_checkpoint(PASSIVE)")
            busy, frames, done = (int(value) for value in result.one())
        self.checkpoints += 1
        return busy, frames, done

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self._interval)
            try:
                await self.checkpoint()
            except Exception as exc:  # retried at the next interval; the WAL only grows meanwhile
                log.warning("wal_checkpoint_failed", error=f"{type(exc).__name__}: {exc}")
