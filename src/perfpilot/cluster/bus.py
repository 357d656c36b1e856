"""NOTIFY between replicas: new samples (`perfpilot_samples`, wakes shard owners) and changes
(`perfpilot_events`: rule changes, alert acknowledge/resolve, live events for SSE).

Payloads are small JSON: ids for engine commands (receivers re-read the rows), the event's
own JSON for live views. One connection listens, another sends; both reconnect on failure. A
notification whose sending failed is sent again on the new connection; notifications sent while
a replica was not listening are gone (NOTIFY keeps nothing), so on listening again it re-reads
what they could have said (`on_resync`: rules, alert statuses, scrape targets).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from typing import Any

import asyncpg
import orjson
import structlog

log = structlog.get_logger("perfpilot.cluster")

SAMPLES_CHANNEL = "perfpilot_samples"
EVENTS_CHANNEL = "perfpilot_events"
# PostgreSQL refuses payloads of 8000 bytes or more; a live event larger than this is not
# relayed (its replica's own views still show it, and the database keeps it)
MAX_PAYLOAD = 7_900
_RETRY_SECONDS = 1.0
SEND_WAIT_SECONDS = 5.0


class ClusterBus:
    def __init__(self, dsn: str, *, replica_id: str) -> None:
        self._dsn = dsn
        self.replica_id = replica_id
        self.on_samples: list[Callable[[], None]] = []
        self.on_event: list[Callable[[dict[str, Any]], None]] = []
        # called whenever listening (re)starts: what was sent before is gone
        self.on_resync: list[Callable[[], None]] = []
        self.listen_losses = 0
        # (channel, payload, future resolved once sent, if someone waits)
        self._outbox: asyncio.Queue[tuple[str, str, asyncio.Future[None] | None]] = asyncio.Queue()
        self._samples_queued = False
        self._tasks: list[asyncio.Task[None]] = []
        self.oversized = 0

    @property
    def alive(self) -> bool:
        return bool(self._tasks) and all(not t.done() for t in self._tasks)

    async def start(self) -> None:
        self._tasks = [
            asyncio.create_task(self._listen(), name="perfpilot-cluster-listen"),
            asyncio.create_task(self._send(), name="perfpilot-cluster-send"),
        ]

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task

    # -- sending ------------------------------------------------------------------------
    def samples_committed(self) -> None:
        """Wake every shard owner (coalesced: one notification waits at most)."""
        if not self._samples_queued:
            self._samples_queued = True
            self._outbox.put_nowait((SAMPLES_CHANNEL, "", None))

    def send(self, message: dict[str, Any]) -> bool:
        """Tell the other replicas; False if too large to relay."""
        return self._queue(message, None)

    async def send_now(self, message: dict[str, Any]) -> None:
        """Tell the other replicas and wait until PostgreSQL has it (at most SEND_WAIT: a
        database that does not answer must not hang the request that made the change)."""
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        if self._queue(message, future):
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.shield(future), SEND_WAIT_SECONDS)

    def _queue(self, message: dict[str, Any], future: asyncio.Future[None] | None) -> bool:
        payload = orjson.dumps({**message, "origin": self.replica_id}).decode()
        if len(payload.encode()) > MAX_PAYLOAD:
            self.oversized += 1
            return False
        self._outbox.put_nowait((EVENTS_CHANNEL, payload, future))
        return True

    async def _connect(self, role: str) -> asyncpg.Connection:
        """A connection named for this replica (pg_stat_activity shows who listens)."""
        name = f"perfpilot-{role}:{self.replica_id}"[:63]
        return await asyncpg.connect(self._dsn, server_settings={"application_name": name})

    async def _send(self) -> None:
        unsent: tuple[str, str, asyncio.Future[None] | None] | None = None
        while True:
            try:
                conn = await self._connect("notify")
            except (OSError, asyncpg.PostgresError) as exc:
                log.warning("cluster_notify_connect_failed", error=repr(exc))
                await asyncio.sleep(_RETRY_SECONDS)
                continue
            try:
                while True:
                    # a notification whose connection failed under it goes first, again
                    unsent = unsent or await self._outbox.get()
                    channel, payload, future = unsent
                    if channel == SAMPLES_CHANNEL:
                        self._samples_queued = False
                    await conn.execute("SELECT pg_notify($1, $2)", channel, payload)
                    unsent = None
                    if future is not None and not future.done():
                        future.set_result(None)
            except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
                log.warning("cluster_notify_failed", error=repr(exc))
            finally:
                with contextlib.suppress(Exception):
                    await conn.close()
            await asyncio.sleep(_RETRY_SECONDS)

    # -- receiving ----------------------------------------------------------------------
    def _received(self, _conn: object, _pid: int, channel: str, payload: str) -> None:
        if channel == SAMPLES_CHANNEL:
            for callback in self.on_samples:
                callback()
            return
        try:
            message = orjson.loads(payload)
        except orjson.JSONDecodeError:
            return
        if not isinstance(message, dict) or message.get("origin") == self.replica_id:
            return  # our own: already applied here
        for handler in self.on_event:
            try:
                handler(message)
            except Exception:  # one bad message must not stop the others
                log.exception("cluster_event_failed", kind=message.get("kind"))

    async def _listen(self) -> None:
        while True:
            try:
                conn = await self._connect("listen")
                await conn.add_listener(SAMPLES_CHANNEL, self._received)
                await conn.add_listener(EVENTS_CHANNEL, self._received)
            except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
                log.warning("cluster_listen_connect_failed", error=repr(exc))
                await asyncio.sleep(_RETRY_SECONDS)
                continue
            lost = asyncio.Event()
            conn.add_termination_listener(_setter(lost))
            for callback in self.on_samples:  # anything sent while we were not listening
                callback()
            for callback in self.on_resync:  # and any change: re-read what it could have said
                callback()
            try:
                await lost.wait()
            finally:
                with contextlib.suppress(Exception):
                    await conn.close()
            self.listen_losses += 1
            log.warning("cluster_listen_lost")
            await asyncio.sleep(_RETRY_SECONDS)


def _setter(event: asyncio.Event) -> Callable[[object], None]:
    return lambda _conn: event.set()
