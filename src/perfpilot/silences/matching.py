"""Which silences apply to an alert: the labels an alert is matched on, and a per-database
cache of the silences that have not ended, so firing an alert costs no query."""

from __future__ import annotations

import time
import uuid
import weakref
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

from sqlalchemy import Engine
from sqlalchemy.ext.asyncio import AsyncSession

from perfpilot.core.db import after_commit
from perfpilot.engine.selectors import Matcher
from perfpilot.models import PerformanceAlert, Silence

SilenceState = Literal["pending", "active", "expired"]
# Other replicas' silence changes reach this process within this many seconds; this
# process's own changes invalidate the cache on commit.
SILENCE_CACHE_TTL_SECONDS = 1.0
# silences that ended this recently stay in the cache: the engine's next ticks still look at
# open alerts, to resume those the silence held back
RECENTLY_ENDED = timedelta(seconds=300)


def silence_state(starts_at: datetime, ends_at: datetime, now: datetime) -> SilenceState:
    if ends_at <= now:
        return "expired"
    return "pending" if starts_at > now else "active"


def alert_labels(alert: PerformanceAlert) -> dict[str, str]:
    """What silence matchers see: the alert's own labels, then service, severity, metric and
    its rule (`rule` and `alertname` = rule name, `rule_id`); the named ones win."""
    meta = alert.meta or {}
    labels = {str(k): str(v) for k, v in (alert.labels or {}).items()}
    rule_name = str(meta.get("ruleName", ""))
    labels.update(
        service=alert.service_name,
        severity=alert.severity,
        metric=alert.metric_type,
        rule=rule_name,
        alertname=rule_name or labels.get("alertname", ""),
    )
    if alert.rule_id is not None:
        labels["rule_id"] = str(alert.rule_id)
    return labels


@dataclass(frozen=True, slots=True)
class SilenceRule:
    id: uuid.UUID
    matchers: tuple[Matcher, ...]
    starts_at: datetime
    ends_at: datetime

    def silences(self, labels: Mapping[str, str], now: datetime) -> bool:
        if not (self.starts_at <= now < self.ends_at):
            return False
        return all(m.matches(labels) for m in self.matchers)


def silence_rule(row: Silence) -> SilenceRule:
    matchers = tuple(Matcher(m["label"], m["op"], m["value"]) for m in row.matchers)
    return SilenceRule(row.id, matchers, row.starts_at, row.ends_at)


def silencing(rules: Sequence[SilenceRule], labels: Mapping[str, str], now: datetime) -> list[str]:
    """Ids (as text, sorted) of the silences in `rules` that silence `labels` at `now`."""
    return sorted(str(r.id) for r in rules if r.silences(labels, now))


class _SilenceCache:
    def __init__(self) -> None:
        self._items: list[SilenceRule] | None = None
        self._loaded_at = 0.0
        self._generation = 0

    def invalidate(self) -> None:
        self._generation += 1
        self._items = None

    async def get(self, session: AsyncSession, now: datetime) -> list[SilenceRule]:
        from perfpilot.silences import repository  # a cycle: repository imports models only

        items = self._items
        if items is not None and time.monotonic() - self._loaded_at < SILENCE_CACHE_TTL_SECONDS:
            return items
        generation = self._generation
        rows = await repository.unended(session, now - RECENTLY_ENDED)
        items = [silence_rule(row) for row in rows]
        if generation == self._generation:
            self._items, self._loaded_at = items, time.monotonic()
        return items


_caches: weakref.WeakKeyDictionary[Engine, _SilenceCache] = weakref.WeakKeyDictionary()


def _cache_for(session: AsyncSession) -> _SilenceCache:
    bind = session.get_bind()
    engine = bind if isinstance(bind, Engine) else bind.engine
    cache = _caches.get(engine)
    if cache is None:
        cache = _caches[engine] = _SilenceCache()
    return cache


async def unended_silences(session: AsyncSession, now: datetime) -> list[SilenceRule]:
    """Silences not ended at `now` (pending or active) or ended within RECENTLY_ENDED, from
    the cache (SilenceRule.silences checks the time)."""
    return await _cache_for(session).get(session, now)


async def silenced_by(session: AsyncSession, alert: PerformanceAlert, now: datetime) -> list[str]:
    """Ids of the silences that silence `alert` at `now` ([]: it notifies and acts)."""
    rules = await unended_silences(session, now)
    return silencing(rules, alert_labels(alert), now) if rules else []


def invalidate_silences(session: AsyncSession) -> None:
    """Drop the cache now and again once committed (a concurrent read may reload it)."""
    cache = _cache_for(session)
    cache.invalidate()
    after_commit(session, cache.invalidate)
