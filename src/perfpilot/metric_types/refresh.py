"""Keeps REGISTRY in step with the database when other replicas add or delete user types."""

from __future__ import annotations

import asyncio
import contextlib

import structlog
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from perfpilot.metric_types.service import load_registry

log = structlog.get_logger("perfpilot.registry")

REFRESH_SECONDS = 10.0  # a type written on another replica is known here within this time


class RegistryRefresh:
    """Reloads the user types every REFRESH_SECONDS (this replica's own writes reload at
    once, after their commit)."""

    def __init__(
        self, sessions: async_sessionmaker[AsyncSession], *, interval: float = REFRESH_SECONDS
    ) -> None:
        self._sessions = sessions
        self._interval = interval
        self._task: asyncio.Task[None] | None = None

    @property
    def alive(self) -> bool:
        return self._task is not None and not self._task.done()

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="perfpilot-registry-refresh")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self._interval)
            try:
                await load_registry(self._sessions)
            except Exception:  # the registry in memory stays as it was; retried next time
                log.exception("registry_refresh_failed")
