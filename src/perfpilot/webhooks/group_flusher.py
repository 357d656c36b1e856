"""Sends due alert groups (webhooks/grouping.py) as one outbox delivery each."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from typing import Any

import structlog
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from perfpilot.core.db import set_writer_role, utcnow
from perfpilot.webhooks import repository
from perfpilot.webhooks.payloads import encode_body, grouped_payload
from perfpilot.webhooks.service import delivery_row

log = structlog.get_logger("perfpilot.webhooks")

BATCH = 50


def group_event(items: list[dict[str, Any]]) -> str:
    """The delivery's event: the items' common one, else alert.group."""
    events = {str(i["event"]) for i in items}
    return events.pop() if len(events) == 1 else "alert.group"


class GroupFlusher:
    """A loop: every `poll` seconds, turn due groups into deliveries (then `on_flushed`)."""

    def __init__(
        self,
        *,
        sessionmaker: async_sessionmaker[AsyncSession],
        readers: async_sessionmaker[AsyncSession] | None = None,
        poll: float = 0.2,
        on_flushed: Callable[[], None] | None = None,
    ) -> None:
        self._sessionmaker = sessionmaker
        self._readers = readers or sessionmaker
        self._poll = poll
        self._on_flushed = on_flushed
        self._task: asyncio.Task[None] | None = None

    @property
    def alive(self) -> bool:
        return self._task is not None and not self._task.done()

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="perfpilot-webhook-groups")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _run(self) -> None:
        set_writer_role("webhooks")
        while True:
            try:
                if await self.flush_due() and self._on_flushed is not None:
                    self._on_flushed()
            except Exception as exc:  # database trouble: keep the loop, try again
                log.error("webhook_groups_failed", error=f"{type(exc).__name__}: {exc}")
            await asyncio.sleep(self._poll)

    async def _any_due(self) -> bool:
        async with self._readers() as session:
            return await repository.any_group_due(session, now=utcnow())

    async def flush_due(self) -> int:
        """Write one delivery per due group; returns how many."""
        if not await self._any_due():  # a read first: no write turn while nothing is due
            return 0
        now = utcnow()
        async with self._sessionmaker() as session, session.begin():
            groups = await repository.claim_due_groups(session, now=now, limit=BATCH)
            rows = []
            for group in groups:
                items = list(group.items or [])
                if items:
                    payload = grouped_payload(items, group_labels=group.group_labels)
                    flushed = group.flush_at or now
                    rows.append(
                        delivery_row(
                            webhook_id=group.webhook_id,
                            event_name=group_event(items),
                            body=encode_body(payload),
                            key=f"group:{group.group_key}:{flushed.timestamp():.6f}",
                            event_at=flushed,
                        )
                    )
                group.items = []
                group.flush_at = None
                group.last_flushed_at = now
            if rows:
                await repository.insert_deliveries(session, rows)
        return len(rows)
