"""Group commit of ingested samples.

Requests hand their rows to one writer task and await a future; the writer commits everything
that queued up while the previous transaction ran in a single transaction, then resolves every
future. A 201 is only sent after its future resolves, so a 201 means committed, and throughput
grows with concurrency instead of paying one fsync per request. Rows arrive already bound for
the driver (repository.bind_rows). On SQLite a group's transaction runs whole on the write
connection's thread (core/db.on_write_thread) as multi-row INSERTs (core/bulk.py), and that
thread goes on with the groups that queued meanwhile; on PostgreSQL a group is one executemany
or COPY. When the database refuses a row, the group is committed again request by request:
only the request holding it fails.
A request sent with an `Idempotency-Key` brings its key row, committed in the same transaction
as its samples: a repeat of a live key is such a refused row (the key's primary key).
Labelled series not yet registered are registered first (metrics/series.py), one group at a
time, so the cardinality limit holds however many requests arrive at once. The same
transaction merges the group's per-minute rollups (metrics/rollups.py), so they never lag.
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
import time
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import structlog
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from sqlalchemy.ext.asyncio import AsyncEngine

from perfpilot.core.db import (
    WriteThread,
    on_write_thread,
    one_hop_writer,
    set_writer_role,
    write_in_one_hop,
)
from perfpilot.core.sqlite_driver import dbapi_error
from perfpilot.metrics import histogram_repository, repository, rollups
from perfpilot.metrics.repository import StoredRow
from perfpilot.metrics.series import NewSeries, SeriesRegistry, new_series
from perfpilot.metrics.stream import GroupTiming, SampleRow, SampleStream
from perfpilot.metrics.units import REGISTRY
from perfpilot.monitoring.telemetry import Telemetry

log = structlog.get_logger("perfpilot.ingest")

# how long the write connection's thread keeps committing queued groups before it lets the
# event loop take the write turn back (IngestWriter._commit_on_thread)
STREAM_MAX_S = 0.5

# A group takes the submissions queued behind its first one only while it stays within this
# many rows, or within the first one's own size: every submission of a group is answered when
# the group commits, so a single sample must not wait for a batch that queued after it (a
# 500-sample batch takes ~10 ms to write)
GROUP_ROWS = 256


@dataclass(slots=True)
class _Submission:
    """One request's rows: as published (rows) and as bound for the driver (stored), and its
    idempotency key row, if any."""

    rows: Sequence[SampleRow]
    stored: list[StoredRow]
    future: asyncio.Future[None]
    key: dict[str, Any] | None = None
    series: NewSeries | None = None  # labelled series to register first
    histograms: list[dict[str, Any]] = field(default_factory=list)  # bound histogram rows


def _rejected_rows(exc: Exception) -> bool:
    """The statement failed on its data (e.g. PostgreSQL refusing \\u0000 in JSONB), not because
    the database is unreachable, locked or out of space."""
    return (
        isinstance(exc, DBAPIError)
        and not isinstance(exc, OperationalError | InterfaceError)
        and not exc.connection_invalidated
    )


def _succeed(submission: _Submission) -> None:
    if not submission.future.done():
        submission.future.set_result(None)


def _fail(submission: _Submission, exc: Exception) -> None:
    if not submission.future.done():
        submission.future.set_exception(exc)


def _plain(submission: _Submission) -> bool:
    """Values only: no idempotency key, histogram or new labelled series (those need the
    SQLAlchemy path: typed binds, or the series registry)."""
    return submission.key is None and not submission.histograms and submission.series is None


def _write_group(
    stored: list[StoredRow], minutes: list[rollups.BoundRollup], connection: sqlite3.Connection
) -> None:
    repository.write_samples(connection, stored)
    rollups.write_rollups(connection, minutes)


class IngestWriter:
    def __init__(
        self,
        engine: AsyncEngine,
        *,
        stream: SampleStream,
        telemetry: Telemetry,
        max_rows_per_commit: int = 50_000,
        cardinality_limit: int = 1000,
        retention_seconds: float = 30 * 86_400.0,
    ) -> None:
        self._engine = engine
        self._dialect = engine.dialect.name
        self._stream = stream
        self._telemetry = telemetry
        self._max_rows = max_rows_per_commit
        self._series = SeriesRegistry(
            engine, limit=cardinality_limit, retention_seconds=retention_seconds
        )
        self._pending: deque[_Submission] = deque()
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
    def _one_hop(self) -> bool:
        """SQLite's one write connection (looked up each time: the engine can be replaced)."""
        return one_hop_writer(self._engine)

    @property
    def alive(self) -> bool:
        return self._task is not None and not self._task.done()

    async def submit(
        self,
        rows: Sequence[SampleRow],
        metadata_json: Sequence[str],
        *,
        key: dict[str, Any] | None = None,
        histograms: bool | None = None,
    ) -> None:
        """Return once the rows are committed; raise what the commit raised.

        `metadata_json` is each row's metadata as stored, serialised once by validation.
        `key` is an idempotency key row, committed with the rows or not at all (an
        IntegrityError when the key is already recorded). `histograms`: whether any row is a
        histogram sample (None: look); those rows go to their own table, same transaction.
        """
        if self._closing or not self.alive:
            raise RuntimeError("ingest writer is not running")
        if histograms is None:
            histograms = any("histogram" in row for row in rows)
        bound_histograms: list[dict[str, Any]] = []
        if histograms:
            # histogram samples go to their own table; only those with observations are
            # published (an empty interval has no value for live views or the engine)
            hist_rows = [row for row in rows if "histogram" in row]
            REGISTRY.note_histogram_types({row["metric_type"] for row in hist_rows})
            bound_histograms = histogram_repository.bind_rows(hist_rows)
            values = [
                (r, m) for r, m in zip(rows, metadata_json, strict=True) if "histogram" not in r
            ]
            rows_of_values = [r for r, _ in values]
            stored = repository.bind_rows(
                rows_of_values, [m for _, m in values], dialect=self._dialect
            )
            rows = rows_of_values + [row for row in hist_rows if row["histogram"].count]
        else:
            stored = repository.bind_rows(rows, metadata_json, dialect=self._dialect)
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        series = new_series(rows, self._series.known, trusted_after=self._series.trusted_after())
        self._pending.append(_Submission(rows, stored, future, key, series, bound_histograms))
        self._wakeup.set()
        await future

    def _take_group(self, *, plain_only: bool = False) -> list[_Submission]:
        """The next group: submissions in arrival order up to max_rows_per_commit, or
        GROUP_ROWS when the first is smaller (at least one); with `plain_only`, it stops at
        the first that is not `_plain`. Safe on the write connection's thread while the event
        loop appends (deque ends are atomic, and only one side takes at a time)."""
        pending = self._pending
        group: list[_Submission] = []
        taken = 0
        limit = self._max_rows
        while pending:
            head = pending[0]
            if plain_only and not _plain(head):
                break
            size = len(head.stored) + len(head.histograms)
            if group and taken + size > limit:
                break
            group.append(pending.popleft())
            taken += size
            if len(group) == 1:
                limit = min(limit, max(size, GROUP_ROWS))
        return group

    async def _run(self) -> None:
        set_writer_role("ingest")
        while True:
            if not self._pending:
                if self._closing:
                    return
                self._wakeup.clear()
                await self._wakeup.wait()
                continue
            group = self._take_group()
            if self._one_hop and all(_plain(s) for s in group):
                await self._commit_streak(group)
                continue
            started = time.time()
            if any(s.series is not None for s in group):
                group = await self._register_series(group)
                if not group:
                    continue
            try:
                await self._insert(
                    [row for s in group for row in s.stored],
                    [s.key for s in group if s.key],
                    [row for s in group for row in s.histograms],
                )
            except Exception as exc:  # the writer keeps going
                await self._failed(group, exc)
                continue
            self._committed(group, GroupTiming(started, time.time()))

    async def _failed(self, group: list[_Submission], exc: Exception) -> None:
        log.error(
            "group_commit_failed", rows=sum(len(s.stored) for s in group), error=type(exc).__name__
        )
        if len(group) > 1 and _rejected_rows(exc):
            await self._commit_one_by_one(group)
        else:
            for submission in group:
                _fail(submission, exc)

    def _committed(self, group: list[_Submission], timing: GroupTiming) -> None:
        for submission in group:
            _succeed(submission)
        self._after_commit([row for s in group for row in s.rows], timing)

    async def _commit_streak(self, group: list[_Submission]) -> None:
        """SQLite: commit `group`, then each plain group that queued meanwhile, one
        transaction each, on the write connection's thread without coming back to the event
        loop in between (`_commit_on_thread`)."""
        loop = asyncio.get_running_loop()
        started = time.time()  # the first group's commit begins with the wait for the turn
        try:
            failed = await on_write_thread(
                self._engine, partial(self._commit_on_thread, group, loop, started)
            )
        except Exception as exc:  # no write turn or no thread: nothing was committed
            await self._failed(group, exc)
            return
        if failed is not None:
            group, error = failed
            if isinstance(error, sqlite3.Error):  # as SQLAlchemy would have raised it
                error = dbapi_error(error, None, self._engine.dialect)
            await self._failed(group, error)

    def _commit_on_thread(
        self,
        group: list[_Submission],
        loop: asyncio.AbstractEventLoop,
        started: float,
        thread: WriteThread,
    ) -> tuple[list[_Submission], Exception] | None:
        """On the write connection's thread. While the event loop parses the next batch or
        evaluates rules it cannot come round to start the next transaction (a 10,000-row group
        waited 100-340 ms for it, measured): so the thread takes the next group itself, until
        none is queued, the next is not plain, another writer wants the turn, or STREAM_MAX_S
        passed. Each commit is handed to the loop at once (call_soon_threadsafe, in order).
        Returns the group the database refused, with its error, for the loop to isolate."""
        deadline = time.perf_counter() + STREAM_MAX_S
        while group:
            stored = [row for s in group for row in s.stored]
            minutes = rollups.minute_rollups(stored, dialect="sqlite")
            try:
                thread.transaction(partial(_write_group, stored, minutes))
            except Exception as exc:  # this group's submissions are the loop's to fail
                return group, exc
            loop.call_soon_threadsafe(self._committed, group, GroupTiming(started, time.time()))
            if thread.others_waiting() or time.perf_counter() > deadline:
                break
            group = self._take_group(plain_only=True)
            started = time.time()
        return None

    async def _register_series(self, group: list[_Submission]) -> list[_Submission]:
        """Register the group's new series; the submissions refused by the cardinality
        limit (or all, if registering fails) get their error and leave the group."""
        waiting = [s for s in group if s.series is not None]
        admits = [(s.series, len(s.rows)) for s in waiting if s.series is not None]
        try:
            refused = await self._series.admit(admits)
        except Exception as exc:
            log.error("series_registration_failed", error=type(exc).__name__)
            for submission in waiting:
                _fail(submission, exc)
            return [s for s in group if s.series is None]
        for index, error in refused.items():
            _fail(waiting[index], error)
        dropped = {id(waiting[index]) for index in refused}
        return [s for s in group if id(s) not in dropped]

    async def _commit_one_by_one(self, group: list[_Submission]) -> None:
        """The database refused some row: commit each request alone, so that only the
        request that holds it fails (one bad sample must not fail its neighbours)."""
        committed: list[SampleRow] = []
        started = time.time()
        for submission in group:
            try:
                await self._insert(
                    submission.stored,
                    [submission.key] if submission.key else [],
                    submission.histograms,
                )
            except Exception as exc:
                _fail(submission, exc)
                continue
            _succeed(submission)
            committed.extend(submission.rows)
        if committed:
            self._after_commit(committed, GroupTiming(started, time.time()))

    async def _insert(
        self,
        stored: list[StoredRow],
        keys: list[dict[str, Any]],
        histograms: list[dict[str, Any]],
    ) -> None:
        # summarised before the transaction: the write lock is held for SQL only
        minutes = rollups.minute_rollups(stored, dialect=self._dialect)
        if self._one_hop and not keys and not histograms:
            # the common group, whole on the write connection's thread (core/db.py);
            # idempotency keys and histograms keep the SQLAlchemy path (rare, typed binds)
            await write_in_one_hop(self._engine, partial(_write_group, stored, minutes))
            return
        async with self._engine.begin() as connection:
            if stored:
                await repository.insert_samples(connection, stored)
                await rollups.add_rollups(connection, minutes)
            if histograms:
                await histogram_repository.insert_histograms(connection, histograms)
            if keys:
                await repository.insert_idempotency_keys(connection, keys)

    def _after_commit(self, rows: list[SampleRow], timing: GroupTiming) -> None:
        self._series.committed(rows)
        telemetry = self._telemetry
        telemetry.group_commit_size.observe(len(rows))
        counts: dict[str, int] = {}
        newest: dict[tuple[str, str], SampleRow] = {}
        for row in rows:
            metric_type = row["metric_type"]
            counts[metric_type] = counts.get(metric_type, 0) + 1
            key = (row["service_name"], metric_type)
            current = newest.get(key)
            if current is None or row["timestamp"] >= current["timestamp"]:
                newest[key] = row
        latest = telemetry.latest
        for (service_name, metric_type), row in newest.items():
            latest.update(service_name, metric_type, row["value"], row["timestamp"].timestamp())
        for metric_type, n in counts.items():
            telemetry.samples_ingested.labels(metric_type).inc(n)
        self._stream.publish(rows, timing)
