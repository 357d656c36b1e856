"""Database engines, sessions, and the types every table shares.

SQLite has one writer at a time. Pooled connections that each take the write lock when they
first write resolve their conflicts in SQLite's busy handler, which sleeps and retries (1, 2,
5, 10 ... ms) on the database thread, in no particular order. So on SQLite every write goes
through one connection (`Database.writer`, a pool of exactly one): writers queue for it on an
asyncio queue, in arrival order, and each transaction starts with BEGIN IMMEDIATE, so the lock
is taken once, up front, by the only process-local writer. Reads use their own read-only
connections (`Database.reader`), which under WAL never block the writer nor wait for it.
PostgreSQL needs none of this: both are the same, concurrent engine.
"""

from __future__ import annotations

import inspect
import sqlite3
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial
from typing import Any, TypeVar

from sqlalchemy import JSON, DateTime, event
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.engine import Connection, Dialect
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.orm import DeclarativeBase
from sqlalchemy.pool import AsyncAdaptedQueuePool, ConnectionPoolEntry
from sqlalchemy.types import TypeDecorator
from sqlalchemy.util import await_only

from perfpilot.core.sqlite_driver import (
    OneHopConnection,
    async_creator,
    dbapi_error,
    run_transaction,
)

JSONType = JSON().with_variant(JSONB(), "postgresql")
_T = TypeVar("_T")


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC on the way out, whatever the backend stores.

    SQLite has no timestamp type: values are stored as naive UTC ISO strings, which sort and
    compare correctly. PostgreSQL uses TIMESTAMPTZ.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        if dialect.name == "sqlite":
            return value.astimezone(UTC).replace(tzinfo=None)
        return value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


class Base(DeclarativeBase):
    type_annotation_map = {dict[str, Any]: JSONType, datetime: UTCDateTime}


def new_id() -> uuid.UUID:
    return uuid.uuid4()


def utcnow() -> datetime:
    return datetime.now(UTC)


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    # WAL + NORMAL: a commit survives a process crash; only an OS crash may lose the last ones.
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def create_engine(url: str, *, echo: bool = False, **options: Any) -> AsyncEngine:
    """An async engine; SQLite gets WAL mode and a busy timeout on every connection."""
    kwargs: dict[str, Any] = {"echo": echo, **options}
    if url.startswith("sqlite"):
        kwargs["async_creator"] = async_creator(url, {"timeout": 10})
    else:
        kwargs.update(pool_size=10, max_overflow=10, pool_pre_ping=True)
    engine = create_async_engine(url, **kwargs)
    if url.startswith("sqlite"):
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
    return engine


def create_sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False, autoflush=False)


Observe = Callable[[float], None]
# (writer role, seconds): who waited for, or held, the write turn and how long
ObserveTurn = Callable[[str, float], None]

# the WAL file's size after it starts over (PRAGMA journal_size_limit on the write connection)
WAL_SIZE_LIMIT_BYTES = 64 * 1024 * 1024

# The write connection's page cache (SQLite's default is 2 MiB): the pages a batch touches in the
# samples table's indexes stay cached from one commit to the next (BENCHMARKS.md)
WRITER_CACHE_KIB = 64 * 1024

# The interpreter's switch interval in a server on SQLite (Python's default: 5 ms). The write
# connection's thread runs SQLite without the GIL and needs it back between statements; while
# the event loop's thread runs Python it waited up to the whole interval each time (~5 us a row
# of a batch, measured: BENCHMARKS.md). Set by the app at start-up (app.py).
GIL_SWITCH_INTERVAL_S = 0.0005

# a writer waiting this long for its turn means a transaction is stuck: fail, don't hang
WRITE_TURN_TIMEOUT_SECONDS = 60.0

# Which part of Perfpilot writes (the label of the write-turn histograms). A background loop
# sets it once at the start of its task (tasks it creates inherit it); requests are "api".
WRITER_ROLES = ("api", "ingest", "engine", "webhooks", "maintenance")
_writer_role: ContextVar[str] = ContextVar("perfpilot_writer_role", default="api")


def set_writer_role(role: str) -> None:
    """Label the current task's (and its children's) write turns with `role`."""
    if role not in WRITER_ROLES:
        raise ValueError(f"unknown writer role {role!r}")
    _writer_role.set(role)


def writer_role() -> str:
    return _writer_role.get()


def _ignore(_: float) -> None:
    return None


def _ignore_turn(_: str, __: float) -> None:
    return None


class _WriteTurnPool(AsyncAdaptedQueuePool):
    """The one-connection pool of the SQLite writer; reports how long each checkout waited
    for the connection (an asyncio wait, in arrival order) to `observe`, and how long the
    turn was then held (checkout to checkin) to `observe_hold`, both by writer role."""

    observe: ObserveTurn = staticmethod(_ignore_turn)
    observe_hold: ObserveTurn = staticmethod(_ignore_turn)
    observe_lock: Observe = staticmethod(_ignore)  # BEGIN IMMEDIATE's duration
    _held: tuple[str, float] | None = None
    waiting = 0  # writers waiting for the turn now

    def _do_get(self) -> ConnectionPoolEntry:
        role = _writer_role.get()
        started = time.perf_counter()
        self.waiting += 1
        try:
            entry = super()._do_get()
        finally:
            self.waiting -= 1
            now = time.perf_counter()
            self.observe(role, now - started)
        self._held = (role, now)
        return entry

    def _do_return_conn(self, record: ConnectionPoolEntry) -> None:
        held, self._held = self._held, None
        if held is not None:
            self.observe_hold(held[0], time.perf_counter() - held[1])
        super()._do_return_conn(record)

    def recreate(self) -> _WriteTurnPool:  # engine.dispose() builds a new pool
        pool = super().recreate()
        assert isinstance(pool, _WriteTurnPool)
        pool.observe = self.observe
        pool.observe_hold = self.observe_hold
        pool.observe_lock = self.observe_lock
        return pool


def _sqlite_writer(engine: AsyncEngine, on_lock_wait: Observe) -> None:
    """Every transaction of this engine starts with BEGIN IMMEDIATE (SQLAlchemy's documented
    pysqlite/aiosqlite recipe), timed on the connection's thread: with one writer per process
    the lock is free and it returns in microseconds; milliseconds mean it slept in the busy
    handler (another process held the lock)."""

    def no_driver_begin(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None  # the driver emits no BEGIN of its own
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA wal_autocheckpoint=0")  # core/checkpoint.py does it off the path
        # when the WAL starts over, its file is cut back to this (core/checkpoint.py)
        cursor.execute(f"PRAGMA journal_size_limit={WAL_SIZE_LIMIT_BYTES}")
        cursor.execute(f"PRAGMA cache_size=-{WRITER_CACHE_KIB}")
        cursor.close()

    def begin_immediate(connection: Connection) -> None:
        driver = connection.connection.driver_connection
        if isinstance(driver, OneHopConnection):
            on_lock_wait(await_only(driver.begin_immediate()))
        else:  # a connection made elsewhere (not by create_engine)
            connection.exec_driver_sql("BEGIN IMMEDIATE")

    event.listen(engine.sync_engine, "connect", no_driver_begin)
    event.listen(engine.sync_engine, "begin", begin_immediate)


def _sqlite_query_only(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA query_only=ON")  # a write routed to a reader fails loudly
    cursor.close()


def _in_memory(url: str) -> bool:
    return url.rstrip("/").endswith(":memory:") or url.rstrip("/") in (
        "sqlite://",
        "sqlite+aiosqlite://",
    )


@dataclass
class Database:
    """The write side and the read side of one database (module docstring)."""

    writer: AsyncEngine
    reader: AsyncEngine
    single_writer: bool  # SQLite: writer is one connection, reader is read-only

    def __post_init__(self) -> None:
        self.write_sessions = create_sessionmaker(self.writer)
        self.read_sessions = (
            self.write_sessions if self.reader is self.writer else create_sessionmaker(self.reader)
        )

    async def dispose(self) -> None:
        if self.reader is not self.writer:
            await self.reader.dispose()
        await self.writer.dispose()


def create_database(
    url: str,
    *,
    on_write_wait: ObserveTurn = _ignore_turn,
    on_write_hold: ObserveTurn = _ignore_turn,
    on_lock_wait: Observe = _ignore,
    echo: bool = False,
) -> Database:
    """SQLite: a one-connection write engine and a read-only read engine. PostgreSQL: one
    engine with its usual pool for both. `on_write_wait` gets each write turn's wait and
    `on_write_hold` how long it was held (writer role, seconds), `on_lock_wait` each BEGIN
    IMMEDIATE's duration (SQLite only)."""
    if not url.startswith("sqlite"):
        engine = create_engine(url, echo=echo)
        return Database(writer=engine, reader=engine, single_writer=False)
    writer = create_engine(
        url,
        echo=echo,
        poolclass=_WriteTurnPool,
        pool_size=1,
        max_overflow=0,
        pool_timeout=WRITE_TURN_TIMEOUT_SECONDS,
    )
    pool = writer.sync_engine.pool
    assert isinstance(pool, _WriteTurnPool)
    pool.observe = on_write_wait
    pool.observe_hold = on_write_hold
    pool.observe_lock = on_lock_wait
    _sqlite_writer(writer, on_lock_wait)
    if _in_memory(url):  # a second engine would open a second, empty database
        return Database(writer=writer, reader=writer, single_writer=True)
    reader = create_engine(url, echo=echo)
    event.listen(reader.sync_engine, "connect", _sqlite_query_only)
    return Database(writer=writer, reader=reader, single_writer=True)


def one_hop_writer(engine: AsyncEngine) -> bool:
    """Whether `engine` is SQLite's one write connection, where `write_in_one_hop` works."""
    return isinstance(engine.sync_engine.pool, _WriteTurnPool)


class WriteThread:
    """SQLite's write connection as seen from its own thread, during `on_write_thread`."""

    def __init__(self, connection: sqlite3.Connection, pool: _WriteTurnPool) -> None:
        self.connection = connection
        self._pool = pool

    def transaction(self, work: Callable[[sqlite3.Connection], _T]) -> _T:
        """BEGIN IMMEDIATE, `work(connection)` (stdlib sqlite3 calls), COMMIT; ROLLBACK and
        re-raise if anything raised. BEGIN IMMEDIATE's duration is observed as usual."""
        lock_wait, result = run_transaction(self.connection, work)
        self._pool.observe_lock(lock_wait)
        return result

    def others_waiting(self) -> bool:
        """Whether another writer is waiting for the write turn."""
        return self._pool.waiting > 0


async def on_write_thread(engine: AsyncEngine, work: Callable[[WriteThread], _T]) -> _T:
    """Take the write turn on SQLite's write connection and run `work` on the connection's
    own thread, in one hop.

    A transaction through SQLAlchemy hops to the connection's thread and back for each
    statement, and each hop back waits for the event loop to come round: while the loop
    parses a batch or evaluates rules, the write turn is held idle. Here the turn is taken
    (and observed) as any transaction's, then the thread runs every statement (and as many
    transactions as `work` runs) without the loop. A database error escaping `work` is raised
    as SQLAlchemy would raise it (a DBAPIError).
    """
    pool = engine.sync_engine.pool
    if not isinstance(pool, _WriteTurnPool):
        raise TypeError("on_write_thread needs SQLite's write engine (create_database)")
    async with engine.connect() as connection:
        driver = (await connection.get_raw_connection()).driver_connection
        if not isinstance(driver, OneHopConnection):
            raise TypeError("the write connection is not a OneHopConnection")
        thread = WriteThread(driver.sqlite_connection, pool)
        try:
            return await driver.in_thread(partial(work, thread))
        except sqlite3.Error as exc:
            raise dbapi_error(exc, None, engine.dialect) from exc


async def write_in_one_hop(engine: AsyncEngine, work: Callable[[sqlite3.Connection], _T]) -> _T:
    """One transaction (`WriteThread.transaction`) run whole on the write connection's thread
    (`on_write_thread`)."""
    return await on_write_thread(engine, lambda thread: thread.transaction(work))


AfterCommit = Callable[[], Awaitable[None] | None]


def after_commit(session: AsyncSession, callback: AfterCommit) -> None:
    """Run `callback` once the session's transaction has committed (never on rollback).

    How a service tells the in-process engine about a change without committing itself.
    """
    session.info.setdefault("after_commit", []).append(callback)


async def run_after_commit(session: AsyncSession) -> None:
    callbacks: list[AfterCommit] = session.info.pop("after_commit", [])
    for callback in callbacks:
        result = callback()
        if inspect.isawaitable(result):
            await result


async def session_scope(
    sessionmaker: async_sessionmaker[AsyncSession],
) -> AsyncIterator[AsyncSession]:
    """One transaction per request: commit on success, roll back on any error."""
    async with sessionmaker() as session:
        try:
            yield session
            await session.commit()
        except BaseException:
            session.info.pop("after_commit", None)
            await session.rollback()
            raise
        await run_after_commit(session)
