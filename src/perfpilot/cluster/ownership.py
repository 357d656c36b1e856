"""Shard ownership through session-level advisory locks on one dedicated connection.

Shard k is ours while this connection holds `pg_advisory_lock(SHARD_LOCK, k)`; the leader (the
non-shard loops: retention, scrapes) holds `pg_advisory_lock(LEADER_LOCK, 0)`. If the process
dies, PostgreSQL ends its session and the locks go with it. Live replicas are the sessions
named `perfpilot-replica:*` on this database (pg_stat_activity): no table, no protocol of our
own. Each replica holds at most ceil(N / live replicas) shards: it takes free ones up to that
share and gives back extras (the engine first forgets them, with everything committed).
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import zlib
from collections.abc import Awaitable, Callable
from typing import Protocol

import asyncpg
import structlog

log = structlog.get_logger("perfpilot.cluster")

SHARD_LOCK = 0x5050_0001  # advisory lock class ids (the first key); the second key is the shard
LEADER_LOCK = 0x5050_0002
APPLICATION_PREFIX = "perfpilot-replica:"

_LIVE = """
SELECT count(*) FROM pg_stat_activity
WHERE datname = current_database() AND application_name LIKE 'perfpilot-replica:%'
"""
_HELD = """
SELECT l.objid::int AS shard, a.application_name
FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
WHERE l.locktype = 'advisory' AND l.granted AND l.classid = $1 AND l.objsubid = 2
  AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
"""


class ShardEngine(Protocol):
    """What the manager tells the engine: evaluate these shards too / no longer."""

    async def gain(self, shards: set[int]) -> None: ...

    async def lose(self, shards: set[int]) -> None: ...


def fair_share(shards: int, live: int) -> int:
    return math.ceil(shards / max(1, live))


class ShardManager:
    def __init__(
        self,
        dsn: str,
        *,
        replica_id: str,
        shards: int,
        engine: ShardEngine,
        check_seconds: float,
        on_leader: Callable[[bool], Awaitable[None]] | None = None,
    ) -> None:
        self._dsn = dsn
        self.replica_id = replica_id
        self.shard_count = shards
        self._engine = engine
        self._check_seconds = check_seconds
        self._on_leader = on_leader
        self.owned: set[int] = set()
        self.leader = False
        self.live_replicas = 0
        self._conn: asyncpg.Connection | None = None
        self._task: asyncio.Task[None] | None = None
        # where this replica starts looking for free shards: spread, so replicas starting
        # together do not all try the same ones
        self._offset = zlib.crc32(replica_id.encode()) % shards

    @property
    def alive(self) -> bool:
        return self._task is not None and not self._task.done()

    async def start(self) -> None:
        """Connect and take a first share before serving (so a lone replica owns every
        shard as soon as it is ready)."""
        with contextlib.suppress(OSError, asyncpg.PostgresError, asyncpg.InterfaceError):
            await self._connect()
            await self.check()
        self._task = asyncio.create_task(self._run(), name="perfpilot-shards")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        await self._drop_all()
        if self._conn is not None:
            with contextlib.suppress(Exception):
                await self._conn.close()  # unlocks everything
            self._conn = None

    async def owners(self) -> dict[int, str]:
        """Each held shard and the replica holding it (for admins)."""
        conn = await asyncpg.connect(self._dsn)
        try:
            rows = await conn.fetch(_HELD, SHARD_LOCK)
        finally:
            await conn.close()
        return {
            int(r["shard"]): str(r["application_name"]).removeprefix(APPLICATION_PREFIX)
            for r in rows
        }

    async def _connect(self) -> asyncpg.Connection:
        if self._conn is None or self._conn.is_closed():
            self._conn = await asyncpg.connect(
                self._dsn,
                server_settings={"application_name": APPLICATION_PREFIX + self.replica_id},
            )
        return self._conn

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self._check_seconds)
            try:
                await self.check()
            except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
                # the session may be gone, and our locks with it: stop evaluating at once
                log.warning("shard_check_failed", error=repr(exc))
                await self._drop_all()
                if self._conn is not None:
                    with contextlib.suppress(Exception):
                        await self._conn.close()
                self._conn = None

    async def _drop_all(self) -> None:
        if self.owned:
            lost, self.owned = set(self.owned), set()
            await self._engine.lose(lost)
        if self.leader:
            self.leader = False
            if self._on_leader is not None:
                await self._on_leader(False)

    async def check(self) -> None:
        """One round: count live replicas, give back extras, take free shards, try leading."""
        conn = await self._connect()
        self.live_replicas = int(await conn.fetchval(_LIVE))
        share = fair_share(self.shard_count, self.live_replicas)
        if len(self.owned) > share:
            extras = set(sorted(self.owned, key=self._order)[share:])
            self.owned -= extras
            await self._engine.lose(extras)  # committed and forgotten before unlocking
            for shard in sorted(extras):
                await conn.fetchval("SELECT pg_advisory_unlock($1, $2)", SHARD_LOCK, shard)
            log.info("shards_released", shards=sorted(extras), live=self.live_replicas)
        elif len(self.owned) < share:
            held = {int(r["shard"]) for r in await conn.fetch(_HELD, SHARD_LOCK)}
            gained: set[int] = set()
            for shard in sorted(range(self.shard_count), key=self._order):
                if len(self.owned) + len(gained) >= share:
                    break
                if shard in held or shard in self.owned:
                    continue
                if await conn.fetchval("SELECT pg_try_advisory_lock($1, $2)", SHARD_LOCK, shard):
                    gained.add(shard)
            if gained:
                try:
                    await self._engine.gain(gained)
                except BaseException:
                    for shard in sorted(gained):  # not evaluated here: let another take it
                        await conn.fetchval("SELECT pg_advisory_unlock($1, $2)", SHARD_LOCK, shard)
                    raise
                self.owned |= gained
                log.info("shards_taken", shards=sorted(gained), live=self.live_replicas)
        if (
            not self.leader
            and self._on_leader is not None
            and await conn.fetchval("SELECT pg_try_advisory_lock($1, 0)", LEADER_LOCK)
        ):
            self.leader = True
            await self._on_leader(True)

    def _order(self, shard: int) -> int:
        return (shard - self._offset) % self.shard_count
