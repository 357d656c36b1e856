"""WAL checkpoints off the write path (SQLite).

By default SQLite checkpoints inside the COMMIT that pushes the WAL past 1,000 pages: that
commit copies the WAL into the database file and fsyncs it, on the one write connection, while
every other writer waits for its turn (under load, a commit took up to 1.8 s this way). The
write connection has automatic checkpoints off (core/db.py); this loop runs a PASSIVE
checkpoint every `interval` seconds on a read connection instead. PASSIVE never waits for a
lock nor calls the busy handler: it copies what no reader still needs, and the writer keeps
appending to the WAL meanwhile.

Under a steady stream of writes that alone never empties the WAL: each checkpoint copies the
frames that existed when it started, the writer appends more meanwhile, and SQLite only starts
the WAL over (at a writer's BEGIN) once every frame has been copied. It grew without bound:
486 MB in 13 s of batch ingestion (measured). So when a checkpoint leaves the WAL above
`restart_frames` (256 MB), a second PASSIVE checkpoint runs holding the write turn (on the
write connection): it copies what was appended during the first, nothing is appended
meanwhile, so it completes and the next write transaction starts the WAL from its beginning
(the write connection's journal_size_limit, core/db.py, then truncates the file). That
second checkpoint stalls every writer while it copies and syncs, hence a bound, not a routine.
"""

from __future__ import annotations

import asyncio
import contextlib

import structlog
from sqlalchemy.ext.asyncio import AsyncEngine

from perfpilot.core.db import WriteThread, on_write_thread, set_writer_role

log = structlog.get_logger("perfpilot.checkpoint")

CHECKPOINT_INTERVAL_SECONDS = 1.0
# 65,536 frames: 256 MB at SQLite's default 4 KB pages. The checkpoint holding the turn stalls
# every writer while it copies and syncs (200-300 ms under batch ingestion, measured): a bound
# on the WAL's size, not a routine (bench/ingest.py, BENCHMARKS.md)
RESTART_FRAMES = 65_536


class WalCheckpointer:
    def __init__(
        self,
        engine: AsyncEngine,
        *,
        writer: AsyncEngine | None = None,
        interval: float = CHECKPOINT_INTERVAL_SECONDS,
        restart_frames: int = RESTART_FRAMES,
    ):
        self._engine = engine
        self._writer = writer
        self._interval = interval
        self._restart_frames = restart_frames
        self._task: asyncio.Task[None] | None = None
        self.checkpoints = 0
        self.completions = 0  # checkpoints that copied the whole WAL holding the write turn

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
        """PRAGMA wal_checkpoint(PASSIVE) on a read connection, then, if it left more than
        `restart_frames` in the WAL, once more holding the write turn (module docstring):
        (busy, WAL frames, frames checkpointed) of the last one."""
        busy, frames, done = await _passive(self._engine)
        if self._writer is not None and frames >= self._restart_frames:
            busy, frames, done = await on_write_thread(self._writer, _passive_on_thread)
            self.completions += int(busy == 0 and done == frames)
        self.checkpoints += 1
        return busy, frames, done

    async def _run(self) -> None:
        set_writer_role("maintenance")
        while True:
            await asyncio.sleep(self._interval)
            try:
                await self.checkpoint()
            except Exception as exc:  # retried at the next interval; the WAL only grows meanwhile
                log.warning("wal_checkpoint_failed", error=f"{type(exc).__name__}: {exc}")


async def _passive(engine: AsyncEngine) -> tuple[int, int, int]:
    async with engine.connect() as connection:
        result = await connection.exec_driver_sql("PRAGMA wal_checkpoint(PASSIVE)")
        busy, frames, done = (int(value) for value in result.one())
    return busy, frames, done


def _passive_on_thread(thread: WriteThread) -> tuple[int, int, int]:
    # outside any transaction: a checkpoint inside one fails (SQLITE_LOCKED)
    busy, frames, done = thread.connection.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
    return int(busy), int(frames), int(done)
