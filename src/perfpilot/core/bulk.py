"""Many rows in few statements: multi-row VALUES on SQLite instead of executemany.

The stdlib sqlite3 driver's executemany releases the GIL around each row's sqlite3_step and
needs it back before binding the next row. While the event loop thread runs Python (parsing the
next batch, evaluating rules), the writer thread waits up to the interpreter's switch interval
(5 ms) for it, per row: beside a busy Python thread a 10,000-row executemany managed 169 rows/s
against 56,789 alone (`bench/insert_gil.py`; BENCHMARKS.md, "Batch ingestion: the SQLite writer
off the event loop"). A multi-row INSERT binds every value under the GIL in one go, then
inserts all its rows in one sqlite3_step without it: 37,777 rows/s beside the same thread,
57,542 alone.

A statement holds at most 1,024 rows (SQLite allows 32,766 parameters) and has a power-of-two
number of rows, so a handful of statement texts cover every group size and stay in the driver's
statement cache (preparing one costs ~3 us a row, running a prepared one ~0.5). All of a call's
statements run in one hop to the connection's thread. PostgreSQL keeps executemany (asyncpg
pipelines it) or COPY.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from functools import partial
from typing import Any

from sqlalchemy.dialects import sqlite
from sqlalchemy.ext.asyncio import AsyncConnection

from perfpilot.core.sqlite_driver import OneHopConnection, dbapi_error

MAX_ROWS_PER_STATEMENT = 1024
SQLITE_DIALECT = sqlite.dialect()  # what statements run on a stdlib connection compile for
_SQLITE_MAX_PARAMETERS = 32_766 if sqlite3.sqlite_version_info >= (3, 32) else 999

Row = Sequence[Any]


class MultiRowInsert:
    """One row's INSERT (`INSERT INTO t (a, b) VALUES (?, ?) [ON CONFLICT ...]`, as SQLAlchemy
    compiles it for SQLite) and its multi-row forms."""

    def __init__(self, sql: str) -> None:
        head, values, rest = sql.partition(" VALUES ")
        group_end = rest.find(")") + 1
        group, tail = rest[:group_end], rest[group_end:]
        width = group.count("?")
        if not values or width == 0 or group != "(" + ", ".join(["?"] * width) + ")":
            raise ValueError(f"not a one-row INSERT with ? placeholders: {sql!r}")
        self.sql = sql
        self.width = width
        self._head = head + values
        self._group = group
        self._tail = tail
        largest = 1
        while largest * 2 <= MAX_ROWS_PER_STATEMENT and largest * 2 * width <= (
            _SQLITE_MAX_PARAMETERS
        ):
            largest *= 2
        self.largest = largest
        self._texts: dict[int, str] = {1: sql}

    def text(self, rows: int) -> str:
        sql = self._texts.get(rows)
        if sql is None:
            sql = self._texts[rows] = self._head + ", ".join([self._group] * rows) + self._tail
        return sql

    def plan(self, rows: int) -> list[int]:
        """Statement sizes for `rows` rows: the largest as often as it fits, then the binary
        digits of the rest (e.g. 2,500 rows at 1,024: 1,024, 1,024, 256, 128, 64, 4)."""
        sizes = [self.largest] * (rows // self.largest)
        rest = rows % self.largest
        size = self.largest
        while rest:
            size //= 2
            if rest >= size:
                sizes.append(size)
                rest -= size
        return sizes

    def run(self, connection: sqlite3.Connection, rows: Sequence[Row]) -> None:
        """On the connection's thread: every row, in as few statements as `plan` gives."""
        start = 0
        for size in self.plan(len(rows)):
            chunk = rows[start : start + size]
            start += size
            if size == 1:
                connection.execute(self.sql, chunk[0])
            else:
                connection.execute(self.text(size), [value for row in chunk for value in row])


_statements: dict[str, MultiRowInsert] = {}


def multirow(sql: str) -> MultiRowInsert:
    """The MultiRowInsert of one row's INSERT `sql` (SQLite, ? placeholders), made once."""
    statement = _statements.get(sql)
    if statement is None:
        statement = _statements[sql] = MultiRowInsert(sql)
    return statement


async def insert_rows(connection: AsyncConnection, sql: str, rows: Sequence[Row]) -> None:
    """`sql`, one row's INSERT as compiled for the connection's dialect, for each of `rows`
    (bound for the driver, in placeholder order), in the caller's transaction. A refused row
    fails the call as executemany would (a DBAPIError, e.g. IntegrityError); rows before it
    in the transaction are the caller's to roll back."""
    if not rows:
        return
    raw = await connection.get_raw_connection()
    driver = raw.driver_connection
    if not isinstance(driver, OneHopConnection):  # PostgreSQL, or a connection made elsewhere
        await connection.exec_driver_sql(sql, list(rows))
        return
    statement = multirow(sql)
    try:
        await driver.in_thread(partial(statement.run, driver.sqlite_connection, rows))
    except sqlite3.Error as exc:
        raise dbapi_error(exc, statement.sql, connection.dialect) from exc
