"""Recording webhook attempts' outcomes, many in one transaction.

Each attempt's outcome (delivered, or failed with its next attempt or dead) is queued here, and
one task writes every outcome that came in while the previous transaction ran in a single
transaction, so a burst of deliveries costs a few write transactions rather than one each
(on SQLite: turns of the one writer). An attempt's slot stays taken until its outcome is
written (`record` returns then): the lease covers the attempt and its record.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

import structlog
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from perfpilot.core.db import set_writer_role
from perfpilot.core.sqlite_driver import run_statements_inline
from perfpilot.monitoring.telemetry import Telemetry
from perfpilot.webhooks import repository
from perfpilot.webhooks.repository import ClaimedDelivery

log = structlog.get_logger("perfpilot.webhooks")

MAX_ERROR_CHARS = 500


@dataclass(frozen=True, slots=True)
class AttemptResult:
    status_code: int | None
    error: str | None = None
    retry_after: float | None = None

    @property
    def ok(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300


@dataclass(slots=True)
class _Outcome:
    delivery: ClaimedDelivery
    result: AttemptResult
    at: datetime
    recorded: asyncio.Future[bool]


RetryAt = Callable[[ClaimedDelivery, AttemptResult, datetime], datetime | None]


class OutcomeRecorder:
    def __init__(
        self,
        sessionmaker: async_sessionmaker[AsyncSession],
        *,
        telemetry: Telemetry,
        retry_at: RetryAt,
        max_attempts: int,
    ) -> None:
        """`retry_at`: when a failed attempt is tried again (None: the delivery is dead)."""
        self._sessionmaker = sessionmaker
        self._telemetry = telemetry
        self._retry_at = retry_at
        self._max_attempts = max_attempts
        self._pending: list[_Outcome] = []
        self._ready = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="perfpilot-webhook-outcomes")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def record(self, delivery: ClaimedDelivery, result: AttemptResult, at: datetime) -> bool:
        """Queue the outcome; True once written, False if its transaction failed (the lease
        then lapses and the delivery is tried again)."""
        outcome = _Outcome(delivery, result, at, asyncio.get_running_loop().create_future())
        self._pending.append(outcome)
        self._ready.set()
        return await asyncio.shield(outcome.recorded)

    async def _run(self) -> None:
        set_writer_role("webhooks")
        run_statements_inline()  # SQLite: short updates, the write turn held for them only
        while True:
            await self._ready.wait()
            self._ready.clear()
            batch, self._pending = self._pending, []
            if batch:
                await self._write(batch)

    async def _write(self, batch: list[_Outcome]) -> None:
        try:
            async with self._sessionmaker() as session, session.begin():
                for outcome in batch:
                    await self._write_one(session, outcome)
        except Exception as exc:  # the leases lapse and the deliveries are tried again
            for outcome in batch:
                log.error(
                    "webhook_outcome_not_recorded",
                    delivery_id=str(outcome.delivery.id),
                    error=f"{type(exc).__name__}: {exc}",
                )
                if not outcome.recorded.done():
                    outcome.recorded.set_result(False)
            return
        for outcome in batch:
            self._written(outcome)
            if not outcome.recorded.done():
                outcome.recorded.set_result(True)

    async def _write_one(self, session: AsyncSession, outcome: _Outcome) -> None:
        delivery, result, now = outcome.delivery, outcome.result, outcome.at
        if result.ok:
            assert result.status_code is not None
            await repository.mark_delivered(
                session, delivery.id, now=now, status_code=result.status_code
            )
        else:
            await repository.mark_failed(
                session,
                delivery.id,
                retry_at=self._retry_at(delivery, result, now),
                status_code=result.status_code,
                error=(result.error or "failed")[:MAX_ERROR_CHARS],
            )

    def _written(self, outcome: _Outcome) -> None:
        delivery, result, now = outcome.delivery, outcome.result, outcome.at
        if result.ok:
            latency = (now - delivery.event_at).total_seconds()
            self._telemetry.webhook_delivery_latency.observe(max(0.0, latency))
            return
        dead = delivery.attempts >= self._max_attempts
        log.warning(
            "webhook_delivery_dead" if dead else "webhook_delivery_failed",
            delivery_id=str(delivery.id),
            webhook_id=str(delivery.webhook_id),
            webhook_event=delivery.event,  # `event` is structlog's message argument
            attempt=delivery.attempts,
            status_code=result.status_code,
            error=result.error,
        )
