"""Checks `serve` and `migrate` run before announcing anything: one process per SQLite data
directory, and a database that answers. Each failure is one line saying what is wrong and
how to fix it (StartupError), never a traceback."""

from __future__ import annotations

import asyncio
import errno
import fcntl
import os
import socket
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from sqlalchemy import make_url, text
from sqlalchemy.engine import URL
from sqlalchemy.exc import SQLAlchemyError

from perfpilot.core.db import create_engine
from perfpilot.core.migrate import upgrade_database

DATABASE_CHECK_TIMEOUT_SECONDS = 10.0
LOCK_FILE_NAME = "serve.lock"
_FIX_URL = "fix PERFPILOT_DATABASE_URL"


class StartupError(Exception):
    """Why the process cannot start, in words an operator can act on."""


@dataclass
class DataDirLock:
    """An exclusive flock on a file in the data directory, held while the process lives.

    The kernel releases it when the process ends, however it ends (kill -9 included).
    """

    path: Path
    file: IO[str]

    def release(self) -> None:
        fcntl.flock(self.file, fcntl.LOCK_UN)
        self.file.close()


def lock_data_dir(data_dir: Path) -> DataDirLock:
    """Refuse a second server on the same SQLite data directory (SQLite is single-process)."""
    data_dir.mkdir(parents=True, exist_ok=True)
    path = data_dir / LOCK_FILE_NAME
    file = path.open("a+", encoding="utf-8")
    try:
        fcntl.flock(file, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        file.seek(0)
        holder = file.read().strip()
        file.close()
        who = f" (pid {holder})" if holder.isdigit() else ""
        raise StartupError(
            f"Another Perfpilot server{who} is using the data directory {data_dir}: SQLite "
            "allows one server process; stop it, or set PERFPILOT_DATA_DIR to another directory."
        ) from None
    file.seek(0)
    file.truncate()
    file.write(f"{os.getpid()}\n")
    file.flush()
    return DataDirLock(path=path, file=file)


def _where(url: URL) -> str:
    return f"{url.host or 'localhost'}:{url.port or 5432}"


def _root_cause(exc: BaseException) -> BaseException:
    seen: set[int] = set()
    while id(exc) not in seen:
        seen.add(id(exc))
        cause = exc.__cause__ or getattr(exc, "orig", None)
        if not isinstance(cause, BaseException):
            break
        exc = cause
    return exc


def describe_database_error(exc: BaseException, url: URL) -> str:
    """One line: what went wrong reaching the database at `url`, and what to do about it."""
    cause = _root_cause(exc)
    name = type(cause).__name__
    message = str(cause).splitlines()[0] if str(cause) else name
    if url.get_backend_name() == "sqlite":
        return (
            f"Cannot open the SQLite database {url.database}: {message}; check that its "
            "directory exists and is writable (PERFPILOT_DATA_DIR or PERFPILOT_DATABASE_URL)."
        )
    where = _where(url)
    if isinstance(cause, TimeoutError):
        return (
            f"PostgreSQL at {where} did not answer within {DATABASE_CHECK_TIMEOUT_SECONDS:g} s; "
            f"check that it runs and the host/port are right ({_FIX_URL})."
        )
    if isinstance(cause, socket.gaierror):
        return f"Cannot resolve the database host {url.host!r}: {message}; {_FIX_URL}."
    if isinstance(cause, ConnectionRefusedError) or (
        isinstance(cause, OSError) and cause.errno == errno.ECONNREFUSED
    ):
        return (
            f"Cannot connect to PostgreSQL at {where}: connection refused; start PostgreSQL "
            f"or {_FIX_URL} (host and port)."
        )
    if name == "InvalidCatalogNameError":
        return (
            f"Database {url.database!r} does not exist on {where}; create it "
            f"(createdb -h {url.host or 'localhost'} -p {url.port or 5432}"
            f"{' -U ' + url.username if url.username else ''} {url.database}) or {_FIX_URL}."
        )
    if name in ("InvalidPasswordError", "InvalidAuthorizationSpecificationError"):
        return (
            f"PostgreSQL at {where} refused user {url.username!r}: {message}; check the user "
            f"and password in PERFPILOT_DATABASE_URL."
        )
    return f"Cannot use the database at {where}: {message}; {_FIX_URL}."


async def prepare_database(database_url: str, *, migrate: bool = True) -> None:
    """Connect once (bounded), then bring the schema up to date; StartupError on failure."""
    url = make_url(database_url)
    engine = create_engine(database_url)
    try:
        try:
            async with asyncio.timeout(DATABASE_CHECK_TIMEOUT_SECONDS):
                async with engine.connect() as connection:
                    await connection.execute(text("SELECT 1"))
        except (SQLAlchemyError, OSError, TimeoutError) as exc:
            # aiosqlite closes a failed connection on its thread after the error: let it finish
            # before the loop closes, or the thread prints a traceback of its own
            await asyncio.sleep(0.1)
            raise StartupError(describe_database_error(exc, url)) from None
        if migrate:
            try:
                await upgrade_database(engine)
            except Exception as exc:
                first = str(_root_cause(exc)).splitlines()[0] if str(exc) else type(exc).__name__
                raise StartupError(
                    f"Upgrading the database schema failed: {first}; the database user needs "
                    "the right to create and alter tables (run `perfpilot migrate` as such a user)."
                ) from None
    finally:
        await engine.dispose()
