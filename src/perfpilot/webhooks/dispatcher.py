"""The outbox dispatcher: delivers pending webhook deliveries, at least once.

Deliveries enqueued in this process arrive already leased, handed over as their transaction
commits (webhooks/service.py), and are POSTed at once. Everything else (retries, rows enqueued
while no dispatcher ran, rows whose lease lapsed) is found by a poll: a read asks whether any
delivery is due, and only then does a write transaction lease them (`repository.claim_due`).
Attempts run concurrently; their outcomes are recorded together, in one transaction for all
the outcomes that came in while the previous one was written, so a burst of deliveries costs a
few write transactions rather than one each (on SQLite: turns of the one writer).
A delivery is marked delivered only after a 2xx, so a crash between sending and recording
means a resend with the same Idempotency-Key once the lease ends (receivers deduplicate on
it). Failures retry with exponential backoff and full jitter until `webhook_max_attempts`,
then the delivery is dead.

Replicas: on PostgreSQL several dispatchers may run; SKIP LOCKED and the lease keep them on
disjoint rows. On SQLite one process is the norm; a second one is still safe (writes serialise)
but only adds contention.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
from collections import deque
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from email.utils import parsedate_to_datetime

import httpx
import structlog
from sqlalchemy.ext.asyncio import AsyncEngine

from perfpilot import __version__
from perfpilot.core.config import Settings
from perfpilot.core.db import create_sessionmaker, set_writer_role, utcnow
from perfpilot.core.outbound import (
    GuardedTransport,
    OutboundKind,
    OutboundPolicy,
    OutboundRefused,
    parse_networks,
)
from perfpilot.monitoring.telemetry import Telemetry
from perfpilot.webhooks import repository
from perfpilot.webhooks.outcomes import AttemptResult, OutcomeRecorder
from perfpilot.webhooks.repository import ClaimedDelivery, OutboxStats
from perfpilot.webhooks.service import register_dispatcher
from perfpilot.webhooks.signing import signature_headers, standard_headers

log = structlog.get_logger("perfpilot.webhooks")

ALERT_FIRED = "alert.fired"  # the event whose path telemetry.alert_path follows
CLAIM_BATCH = 32
RESPONSE_SNIPPET_BYTES = 256


def backoff_ceiling(attempt: int, *, base: float, cap: float) -> float:
    """Longest wait after the `attempt`-th failed attempt (1-based): min(cap, base·2^(n-1))."""
    exponent = min(max(attempt - 1, 0), 60)  # 2**60 · base already exceeds any sane cap
    return min(cap, base * float(2**exponent))


def retry_delay(
    attempt: int, *, base: float, cap: float, rng: Callable[[], float] = random.random
) -> float:
    """Full jitter: uniform in [0, ceiling], so failed receivers are not hit in lockstep."""
    return rng() * backoff_ceiling(attempt, base=base, cap=cap)


def _retry_after_seconds(value: str | None, now: datetime) -> float | None:
    """A Retry-After header (seconds or HTTP date) as seconds from now."""
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        return max(0.0, (parsedate_to_datetime(value) - now).total_seconds())
    except (TypeError, ValueError):
        return None


class WebhookDispatcher:
    """Delivers the outbox. Register as `ctx.loops["webhooks"]`; `notify()` makes it look for
    due deliveries now instead of at the next poll."""

    def __init__(
        self,
        *,
        engine: AsyncEngine,
        read_engine: AsyncEngine | None = None,
        settings: Settings,
        telemetry: Telemetry,
        clock: Callable[[], datetime] = utcnow,
        policy: OutboundPolicy | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        lease_seconds: float | None = None,
    ) -> None:
        """`transport` replaces the policy-guarded one (tests that fake the network only)."""
        self._engine = engine
        self._sessionmaker = create_sessionmaker(engine)  # claims and outcomes: the write side
        self._readers = create_sessionmaker(read_engine) if read_engine else self._sessionmaker
        self._telemetry = telemetry
        self._clock = clock
        self._policy = policy or OutboundPolicy(parse_networks(settings.outbound_allow))
        self._transport = transport
        self._max_attempts = settings.webhook_max_attempts
        self._base = settings.webhook_backoff_base_seconds
        self._cap = settings.webhook_backoff_cap_seconds
        self._timeout = settings.webhook_timeout_seconds
        self._poll = settings.webhook_poll_interval_seconds
        self._concurrency = settings.webhook_concurrency
        self._stuck_after = settings.webhook_stuck_after_seconds
        self._dead_window = settings.webhook_dead_health_window_seconds
        # outlives one attempt (bounded by the timeout) plus recording its outcome
        self._lease = lease_seconds if lease_seconds is not None else 2 * self._timeout + 1
        self._wakeup = asyncio.Event()
        self._look = True  # ask the database for due deliveries at the next pass
        # handed over on commit, leased to us, waiting for a free slot: (delivery, when)
        self._handed: deque[tuple[ClaimedDelivery, float]] = deque()
        self._inflight: set[asyncio.Task[None]] = set()
        self._outcomes = OutcomeRecorder(
            self._sessionmaker,
            telemetry=telemetry,
            retry_at=self._retry_at,
            max_attempts=self._max_attempts,
        )
        self._task: asyncio.Task[None] | None = None
        self._client: httpx.AsyncClient | None = None
        self._closing = False
        self._stats: OutboxStats | None = None
        self._stats_monotonic: float | None = None
        self._started_monotonic = time.monotonic()

    # --- lifecycle ---------------------------------------------------------------------------

    def start(self) -> None:
        limits = httpx.Limits(max_connections=self._concurrency)
        self._client = httpx.AsyncClient(
            # every connection resolves and checks its host first, then connects to the
            # checked address (DESIGN §10); no env proxies, which would hide the destination
            transport=self._transport
            or GuardedTransport(self._policy, OutboundKind.webhook, limits=limits),
            trust_env=False,
            timeout=httpx.Timeout(self._timeout),
            follow_redirects=False,  # a redirect is a misconfigured URL, not a delivery
            limits=limits,
            headers={"User-Agent": f"Perfpilot-Webhooks/{__version__}"},
        )
        self._started_monotonic = time.monotonic()
        register_dispatcher(self._engine.sync_engine, self)
        self._task = asyncio.create_task(self._run(), name="perfpilot-webhook-dispatcher")
        self._outcomes.start()

    async def stop(self) -> None:
        """Stop claiming, let in-flight attempts finish (bounded by the timeout); deliveries
        handed over but not started are given back (their lease ends now)."""
        self._closing = True
        register_dispatcher(self._engine.sync_engine, None)
        self._wakeup.set()
        if self._task is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self._inflight:
            _, unfinished = await asyncio.wait(self._inflight, timeout=self._timeout + 1)
            for task in unfinished:  # their leases lapse and another run resends them
                task.cancel()
            await asyncio.gather(*unfinished, return_exceptions=True)
        await self._outcomes.stop()
        await self._give_back([delivery for delivery, _ in self._handed])
        self._handed.clear()
        if self._client is not None:
            await self._client.aclose()

    def notify(self) -> None:
        """Deliveries may be due: look now instead of at the next poll."""
        self._look = True
        self._wakeup.set()

    @property
    def lease_seconds(self) -> float:
        return self._lease

    def take(self, deliveries: Sequence[ClaimedDelivery]) -> None:
        """Committed deliveries leased to this dispatcher (webhooks/service.py): send them as
        soon as a slot is free."""
        now = time.monotonic()
        self._handed.extend((delivery, now) for delivery in deliveries)
        self._wakeup.set()

    @property
    def alive(self) -> bool:
        return self._task is not None and not self._task.done()

    @property
    def backlog(self) -> int | None:
        return None if self._stats is None else self._stats.backlog

    @property
    def healthy(self) -> bool:
        """False when the loop died, the outbox cannot be read, a due delivery waits or one
        keeps failing for longer than webhook_stuck_after_seconds, or one went dead within
        webhook_dead_health_window_seconds."""
        if not self.alive:
            return False
        seen = self._stats_monotonic
        if seen is None:
            return time.monotonic() - self._started_monotonic < self._stuck_after
        if time.monotonic() - seen > self._stuck_after:
            return False
        stats = self._stats
        assert stats is not None
        now = self._clock()
        stuck = timedelta(seconds=self._stuck_after)
        if stats.oldest_due_at is not None and now - stats.oldest_due_at > stuck:
            return False
        if stats.oldest_failing_since is not None and now - stats.oldest_failing_since > stuck:
            return False
        dead_window = timedelta(seconds=self._dead_window)
        return stats.last_dead_at is None or now - stats.last_dead_at > dead_window

    # --- the loop ----------------------------------------------------------------------------

    async def _run(self) -> None:
        set_writer_role("webhooks")  # the delivery tasks it starts inherit it
        while not self._closing:
            self._wakeup.clear()
            self._start_handed()
            claimed = requested = 0
            try:
                requested = min(CLAIM_BATCH, self._concurrency - len(self._inflight))
                if requested > 0 and self._look:
                    self._look = False
                    if await self._due():
                        claimed = await self._claim(requested)
                await self._refresh_stats()
            except Exception as exc:  # database trouble: keep the loop alive, try again later
                log.error("webhook_dispatch_failed", error=f"{type(exc).__name__}: {exc}")
            if claimed and claimed == requested:
                self._look = True
                continue  # more may be due right now
            try:
                async with asyncio.timeout(self._poll):
                    await self._wakeup.wait()
            except TimeoutError:
                self._look = True

    def _start_handed(self) -> None:
        """Start handed-over deliveries while slots are free. One that waited so long that
        its attempt could outlive the lease is left to the poll, which claims it again once
        the lease ends (sending it now could overlap with that)."""
        stale_after = self._lease - self._timeout - 1  # attempt + record within the lease
        now = time.monotonic()
        while self._handed and len(self._inflight) < self._concurrency:
            delivery, handed_at = self._handed.popleft()
            if now - handed_at > stale_after:
                continue
            self._telemetry_handoff(delivery, now - handed_at)
            self._spawn(delivery)

    def _telemetry_handoff(self, delivery: ClaimedDelivery, waited: float) -> None:
        if delivery.event == ALERT_FIRED:
            since_written = time.time() - delivery.created_at.timestamp()
            self._telemetry.alert_path.labels("outbox_claim").observe(
                max(0.0, since_written, waited)
            )

    def _spawn(self, delivery: ClaimedDelivery) -> None:
        task = asyncio.create_task(self._deliver(delivery))
        self._inflight.add(task)
        task.add_done_callback(self._finished)

    async def _due(self) -> bool:
        """Whether a delivery of an active subscription is due (a read, no write turn)."""
        async with self._readers() as session:
            return await repository.any_due(session, now=self._clock())

    async def _claim(self, limit: int) -> int:
        now = self._clock()
        async with self._sessionmaker() as session, session.begin():
            batch = await repository.claim_due(
                session, now=now, lease_until=now + timedelta(seconds=self._lease), limit=limit
            )
        claimed = time.time()
        stage = self._telemetry.alert_path.labels
        for delivery in batch:
            if delivery.event == ALERT_FIRED:
                stage("outbox_claim").observe(max(0.0, claimed - delivery.created_at.timestamp()))
            self._spawn(delivery)
        return len(batch)

    async def _give_back(self, deliveries: list[ClaimedDelivery]) -> None:
        """End the lease of handed-over deliveries never attempted: due now, uncounted."""
        if not deliveries:
            return
        try:
            async with self._sessionmaker() as session, session.begin():
                await repository.release_leases(
                    session, [d.id for d in deliveries], now=self._clock()
                )
        except Exception as exc:  # their leases lapse instead
            log.error("webhook_lease_not_released", error=f"{type(exc).__name__}: {exc}")

    def _finished(self, task: asyncio.Task[None]) -> None:
        self._inflight.discard(task)
        self._wakeup.set()  # a slot is free

    async def _refresh_stats(self) -> None:
        seen = self._stats_monotonic
        if seen is not None and time.monotonic() - seen < self._poll:
            return
        async with self._readers() as session:
            stats = await repository.outbox_stats(session, now=self._clock())
        self._stats, self._stats_monotonic = stats, time.monotonic()
        self._telemetry.outbox_backlog.set(stats.backlog)

    # --- one delivery ------------------------------------------------------------------------

    async def _deliver(self, delivery: ClaimedDelivery) -> None:
        sent = time.perf_counter()
        result = await self._attempt(delivery)
        if delivery.event == ALERT_FIRED:
            posted = time.perf_counter() - sent
            self._telemetry.alert_path.labels("webhook_post").observe(posted)
        # the slot stays taken until the outcome is written: the lease covers both
        await self._outcomes.record(delivery, result, self._clock())

    def _retry_at(
        self, delivery: ClaimedDelivery, result: AttemptResult, now: datetime
    ) -> datetime | None:
        if delivery.attempts >= self._max_attempts:
            return None
        delay = retry_delay(delivery.attempts, base=self._base, cap=self._cap)
        if result.retry_after is not None:  # the receiver asked us to slow down
            delay = max(delay, min(result.retry_after, self._cap))
        return now + timedelta(seconds=delay)

    async def _attempt(self, delivery: ClaimedDelivery) -> AttemptResult:
        """POST once; never raises for the receiver's or the network's failures."""
        assert self._client is not None
        body = delivery.body.encode()
        sent_at = int(time.time())
        headers = {
            "Content-Type": "application/json",
            "X-Perfpilot-Event": delivery.event,
            "X-Perfpilot-Delivery": str(delivery.id),
            "X-Perfpilot-Attempt": str(delivery.attempts),
            "Idempotency-Key": delivery.idempotency_key,
            **signature_headers(delivery.secret, body, timestamp=sent_at),
            **standard_headers(delivery.secret, str(delivery.id), body, timestamp=sent_at),
        }
        try:
            request = self._client.build_request(
                "POST", delivery.url, content=body, headers=headers
            )
            # one deadline for the whole exchange: httpx's timeout is per phase
            async with asyncio.timeout(self._timeout):
                response = await self._client.send(request, stream=True)
                try:
                    if 200 <= response.status_code < 300:
                        return AttemptResult(response.status_code)
                    snippet = await _read_snippet(response)
                finally:
                    await response.aclose()
        except TimeoutError:
            return AttemptResult(None, f"timed out after {self._timeout:g} s")
        except OutboundRefused as exc:  # nothing was sent
            return AttemptResult(None, f"destination refused: {exc}")
        except Exception as exc:  # network, TLS, protocol, bad URL: all a failed attempt
            return AttemptResult(None, f"{type(exc).__name__}: {exc}")
        error = f"HTTP {response.status_code}"
        if snippet:
            error += f": {snippet}"
        retry_after = None
        if response.status_code in (429, 503):
            retry_after = _retry_after_seconds(response.headers.get("retry-after"), self._clock())
        return AttemptResult(response.status_code, error, retry_after)


async def _read_snippet(response: httpx.Response) -> str:
    """The start of an error response, for last_error; never the whole (maybe huge) body."""
    data = b""
    async for chunk in response.aiter_bytes():
        data += chunk
        if len(data) >= RESPONSE_SNIPPET_BYTES:
            break
    return data[:RESPONSE_SNIPPET_BYTES].decode("utf-8", "replace").strip()
