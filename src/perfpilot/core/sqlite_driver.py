"""aiosqlite with one thread hop per statement.

aiosqlite runs each call on the connection's own thread and hands the result back to the event
loop; through SQLAlchemy a statement is four such calls (open a cursor, execute, fetch all,
close the cursor), and each one waits for the event loop to come round. On the one SQLite
write connection (core/db.py) every hop is time the write turn is held while other writers
queue, so an engine step of twenty statements held it for eighty loop iterations. Here a
statement is one hop: the thread opens the cursor, executes, fetches every row and closes the
cursor; the cursor the event loop sees only holds the outcome.

Server-side cursors (`stream()`) get the same prefetched rows: nothing here streams big
results.

After `run_statements_inline()` a task's statements inside a transaction begun with BEGIN
IMMEDIATE (the write connection's: core/db.py) skip the hop and run on the event loop's own
thread (connections are opened with check_same_thread off; whoever holds a connection is its
only user, so its thread is idle meanwhile). For the engine's steps, many short ORM statements
each: every hop back waited for the event loop, which runs other tasks first, while the write
turn stayed held (under load an alert's transaction held it 9 ms, mostly waiting); inline the
transaction runs through, holding the turn for its own work only. Only there: the write lock
is already held, so no statement can wait for another connection's in SQLite's busy handler,
which would stall the loop (BEGIN IMMEDIATE itself hops: it may wait for another process).
Statements that are long by themselves (ingest's big inserts) do not belong inline.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable, Iterable, Sequence
from contextvars import ContextVar
from functools import partial
from threading import Thread
from typing import Any, TypeVar

import aiosqlite
from sqlalchemy.engine import Dialect, make_url
from sqlalchemy.exc import DBAPIError, StatementError

_T = TypeVar("_T")
_Description = tuple[tuple[Any, ...], ...] | None
_Outcome = tuple[_Description, int, int | None, list[Any]]

_inline: ContextVar[bool] = ContextVar("perfpilot_sqlite_inline", default=False)


def run_statements_inline() -> None:
    """From now on the current task's (and its children's) SQLite statements run on its own
    thread (module docstring). Nothing changes for other databases."""
    _inline.set(True)


def _run(connection: sqlite3.Connection, sql: str, parameters: Any, *, many: bool) -> _Outcome:
    """On the connection's thread: the whole statement, cursor to closed cursor."""
    cursor = connection.cursor()
    try:
        if many:
            cursor.executemany(sql, parameters)
        elif parameters is None:
            cursor.execute(sql)
        else:
            cursor.execute(sql, parameters)
        description = cursor.description
        rows = cursor.fetchall() if description else []
        return description, cursor.rowcount, cursor.lastrowid, rows
    finally:
        cursor.close()


class OneHopCursor:
    """What SQLAlchemy's aiosqlite adapter expects of an aiosqlite cursor."""

    def __init__(self, connection: OneHopConnection) -> None:
        self._connection = connection
        self.description: _Description = None
        self.rowcount = -1
        self.lastrowid: int | None = None
        self.arraysize = 1
        self._rows: list[Any] = []

    async def __aenter__(self) -> OneHopCursor:
        return self

    async def __aexit__(self, *_: object) -> None:
        return None

    async def _outcome(self, sql: str, parameters: Any, *, many: bool) -> OneHopCursor:
        run = partial(_run, self._connection._conn, sql, parameters, many=many)
        outcome = await self._connection.in_thread(run)
        self.description, self.rowcount, self.lastrowid, self._rows = outcome
        return self

    async def execute(self, sql: str, parameters: Any = None) -> OneHopCursor:
        return await self._outcome(sql, parameters, many=False)

    async def executemany(self, sql: str, parameters: Iterable[Any]) -> OneHopCursor:
        return await self._outcome(sql, parameters, many=True)

    async def fetchall(self) -> list[Any]:
        rows, self._rows = self._rows, []
        return rows

    async def fetchmany(self, size: int | None = None) -> list[Any]:
        count = self.arraysize if size is None else size
        rows, self._rows = self._rows[:count], self._rows[count:]
        return rows

    async def fetchone(self) -> Any:
        return self._rows.pop(0) if self._rows else None

    async def nextset(self) -> None:
        return None

    async def setinputsizes(self, *_: Any) -> None:
        return None

    async def close(self) -> None:
        self._rows = []


class OneHopConnection(aiosqlite.Connection):
    @property
    def sqlite_connection(self) -> sqlite3.Connection:
        """The stdlib connection: use it only in functions run by `in_thread`."""
        connection: sqlite3.Connection = self._conn
        return connection

    _write_locked = False  # in a transaction begun by begin_immediate: the lock is held

    async def in_thread(self, function: Callable[[], _T]) -> _T:
        """`function()` on the connection's thread: one hop (none after
        `run_statements_inline`, in a transaction that holds the write lock: then on the
        caller's thread)."""
        if self._write_locked and _inline.get() and self._conn.in_transaction:
            return function()
        return await self._hop(function)

    async def _hop(self, function: Callable[[], _T]) -> _T:
        result: _T = await self._execute(function)  # type: ignore[no-untyped-call]
        return result

    def cursor(self) -> OneHopCursor:  # type: ignore[override]
        return OneHopCursor(self)

    async def commit(self) -> None:
        if self._conn.in_transaction:  # nothing to commit: no hop
            await self.in_thread(self._conn.commit)
        self._write_locked = False

    async def rollback(self) -> None:
        # The pool rolls back every connection it takes back, committed or not: after a
        # commit that is a hop to the thread and back for nothing. (`in_transaction` reads
        # sqlite3_get_autocommit: no statement runs on the connection while we are here.)
        if self._conn.in_transaction:
            await self.in_thread(self._conn.rollback)
        self._write_locked = False

    async def begin_immediate(self) -> float:
        """BEGIN IMMEDIATE; returns how long it took on the connection's thread, that is how
        long SQLite took to grant the write lock (the GIL may add up to its switch interval)."""

        def begin(connection: sqlite3.Connection) -> float:
            started = time.perf_counter()
            connection.execute("BEGIN IMMEDIATE")
            return time.perf_counter() - started

        waited = await self._hop(partial(begin, self._conn))
        self._write_locked = True
        return waited


def run_transaction(
    connection: sqlite3.Connection, work: Callable[[sqlite3.Connection], _T]
) -> tuple[float, _T]:
    """On the connection's thread: BEGIN IMMEDIATE, `work(connection)`, COMMIT (ROLLBACK if
    anything raised); returns (how long BEGIN IMMEDIATE took, what `work` returned)."""
    started = time.perf_counter()
    connection.execute("BEGIN IMMEDIATE")
    lock_wait = time.perf_counter() - started
    try:
        result = work(connection)
        connection.execute("COMMIT")
    except BaseException:
        if connection.in_transaction:
            connection.execute("ROLLBACK")
        raise
    return lock_wait, result


def dbapi_error(exc: sqlite3.Error, statement: str | None, dialect: Dialect) -> StatementError:
    """A stdlib sqlite3 error as SQLAlchemy raises it for a statement it ran (IntegrityError,
    OperationalError ...), for statements run on the connection's thread without it."""
    return DBAPIError.instance(
        statement, None, exc, sqlite3.Error, hide_parameters=True, dialect=dialect
    )


def async_creator(url: str, connect_args: dict[str, Any]) -> Callable[[], Any]:
    """For create_async_engine(async_creator=...): what the aiosqlite dialect would open
    for `url`, as a OneHopConnection."""
    parsed = make_url(url)
    args: Sequence[Any]
    args, options = parsed.get_dialect()().create_connect_args(parsed)
    # run_statements_inline: the holder of a connection may use it from the event loop's thread
    options = {**options, **connect_args, "check_same_thread": False}

    async def connect() -> OneHopConnection:
        connection = OneHopConnection(partial(sqlite3.connect, *args, **options), 64)
        # as SQLAlchemy's dialect does: before aiosqlite 0.22 the connection was the thread
        thread: Thread = getattr(connection, "_thread", None) or connection  # type: ignore[assignment]
        thread.daemon = True
        await connection
        return connection

    return connect
