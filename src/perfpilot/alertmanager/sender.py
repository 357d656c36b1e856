"""Forwards open alerts to every configured Alertmanager, as Prometheus does.

Alertmanager's protocol is state, re-sent: each open alert is posted to POST /api/v2/alerts
when it opens and again every `resend` seconds while open (with an endsAt a few intervals
ahead, so it expires if Perfpilot goes away), then once with its real endsAt when resolved.
The durable part is ai_alertmanager_notices: per Alertmanager and alert, when it last got the
alert and whether its end was delivered. A down Alertmanager is retried with backoff and, when
back, gets every alert that is open then plus the ends it missed; each Alertmanager of an HA
pair is tracked separately, so each gets every alert. Several Perfpilot replicas may all send:
Alertmanager deduplicates identical alerts, so that costs traffic, not correctness.
Silenced alerts (silences/) are not sent, nor alerts received from Alertmanager (they would
come back through its routes as new alerts)."""

from __future__ import annotations

import asyncio
import contextlib
from datetime import timedelta

import httpx
import structlog
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from perfpilot import __version__
from perfpilot.alertmanager import repository as notices
from perfpilot.alertmanager.forward import postable_alert, target_key
from perfpilot.core.config import Settings
from perfpilot.core.db import set_writer_role, utcnow
from perfpilot.silences.review import is_silenced

log = structlog.get_logger("perfpilot.alertmanager")

BATCH = 500
BACKOFF_CAP_SECONDS = 30.0


class AlertmanagerSender:
    """A loop (ctx.loops["alertmanager"]); idle when no Alertmanager is configured."""

    def __init__(
        self,
        *,
        sessionmaker: async_sessionmaker[AsyncSession],
        readers: async_sessionmaker[AsyncSession],
        settings: Settings,
    ) -> None:
        self._sessionmaker = sessionmaker
        self._readers = readers
        self._urls = list(settings.alertmanager_urls)
        self._resend = settings.alertmanager_resend_seconds
        self._timeout = settings.alertmanager_timeout_seconds
        self._poll = settings.alertmanager_poll_seconds
        self._public_url = settings.public_url
        self._retry_at: dict[str, float] = {}
        self._failures: dict[str, int] = {}
        self._task: asyncio.Task[None] | None = None
        self._client: httpx.AsyncClient | None = None
        self.last_error: dict[str, str | None] = {}

    @property
    def alive(self) -> bool:
        return not self._urls or (self._task is not None and not self._task.done())

    def start(self) -> None:
        if not self._urls:
            return
        # the URLs come from the operator's own settings: trusted, loopback included
        self._client = httpx.AsyncClient(
            trust_env=False,
            timeout=httpx.Timeout(self._timeout),
            follow_redirects=False,
            headers={"User-Agent": f"Perfpilot/{__version__}"},
        )
        self._task = asyncio.create_task(self._run(), name="perfpilot-alertmanager")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self._client is not None:
            await self._client.aclose()

    async def _run(self) -> None:
        set_writer_role("webhooks")  # notification delivery, as the outbox
        loop = asyncio.get_running_loop()
        while True:
            for url in self._urls:
                if loop.time() < self._retry_at.get(url, 0.0):
                    continue
                try:
                    await self.send_due(url)
                except Exception as exc:  # database trouble: keep the loop, try again
                    log.error("alertmanager_pass_failed", error=f"{type(exc).__name__}: {exc}")
            await asyncio.sleep(self._poll)

    async def send_due(self, url: str) -> int:
        """Post what `url` is owed now (new or re-sendable firing alerts, missed ends);
        returns how many alerts were posted."""
        target = target_key(url)
        now = utcnow()
        async with self._readers() as session:
            resend_before = now - timedelta(seconds=self._resend)
            firing = [
                a
                for a in await notices.due_firing(
                    session, target, resend_before=resend_before, limit=BATCH
                )
                # received from an Alertmanager: sending them back would loop
                if not is_silenced(a) and (a.meta or {}).get("source") != "alertmanager"
            ]
            ended = list(await notices.due_ended(session, target, limit=BATCH))
        if not firing and not ended:
            return 0
        body = [
            postable_alert(a, now=now, resend=self._resend, public_url=self._public_url)
            for a in [*firing, *ended]
        ]
        error = await self._post(url, body)
        async with self._sessionmaker() as session, session.begin():
            await notices.record(
                session,
                target,
                firing=[a.id for a in firing],
                ended=[a.id for a in ended],
                now=now,
                error=error,
            )
        self._outcome(url, error)
        return len(body)

    async def _post(self, url: str, body: list[dict[str, object]]) -> str | None:
        assert self._client is not None
        try:
            response = await self._client.post(f"{url}/api/v2/alerts", json=body)
        except Exception as exc:  # refused, timed out, DNS: a failed attempt
            return f"{type(exc).__name__}: {exc}"[:500]
        if 200 <= response.status_code < 300:
            return None
        return f"HTTP {response.status_code}: {response.text[:200]}"

    def _outcome(self, url: str, error: str | None) -> None:
        self.last_error[url] = error
        if error is None:
            self._failures.pop(url, None)
            self._retry_at.pop(url, None)
            return
        failures = self._failures.get(url, 0) + 1
        self._failures[url] = failures
        delay = min(BACKOFF_CAP_SECONDS, self._poll * 2 ** min(failures - 1, 10))
        self._retry_at[url] = asyncio.get_running_loop().time() + delay
        log.warning("alertmanager_unreachable", target=target_key(url), error=error)
