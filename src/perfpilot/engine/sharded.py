"""The engine of one replica among several (PostgreSQL scale-out, DESIGN §12).

It evaluates only the services of the shards it owns (cluster/ownership.py), and takes their
samples from the store, not from its own ingestion: any replica commits a sample, the owner
reads the rows committed since its watermark (cluster/repository.py: xid8 / snapshot xmin),
woken by NOTIFY. The watermark is saved with the step that evaluated the rows, so whoever owns
the shard next continues exactly there: it restores the shard's open alerts and timers, loads
the evaluated samples into windows, and evaluates the rest.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from datetime import UTC, datetime
from typing import Any, cast

import orjson
import structlog
from sqlalchemy.ext.asyncio import AsyncSession

from perfpilot.cluster import repository as shard_repo
from perfpilot.cluster.shards import owner_test, shard_of
from perfpilot.engine.histograms import Histogram
from perfpilot.engine.restore import restore_rules, restore_states
from perfpilot.engine.runner import EngineRunner
from perfpilot.engine.selectors import NO_GROUP, Group
from perfpilot.engine.step import FeedPull, Position, Samples, Step, Work
from perfpilot.engine.windows import Sample
from perfpilot.metrics.stream import SampleRow

log = structlog.get_logger("perfpilot.engine")


class ShardedEngineRunner(EngineRunner):
    def __init__(
        self, *, shard_count: int, replica_id: str, poll_seconds: float, **kwargs: Any
    ) -> None:
        super().__init__(**kwargs)
        self.shard_count = shard_count
        self.replica_id = replica_id
        self.owned: set[int] = set()  # mutated in place: `owns` reads it live
        self.owns = owner_test(self.owned, shard_count)
        self._marks: dict[int, int] = {}
        self._wake = asyncio.Event()
        self._poll_seconds = poll_seconds
        self._pull_queued = False
        self.evaluations = 0  # feed steps that evaluated samples (benchmarks, tests)

    def owns_service(self, service_name: str) -> bool:
        return self.owns(service_name)

    # -- lifecycle ----------------------------------------------------------------------
    async def start(self) -> None:
        if self.actions is not None:
            self.actions.owns = self.owns
        async with self._readers() as session:
            await restore_rules(self.core, session)  # shards bring their states (gain)
        self._tasks = [
            asyncio.create_task(self._process_loop(), name="perfpilot-engine"),
            asyncio.create_task(self._tick_loop(), name="perfpilot-engine-tick"),
            asyncio.create_task(self._feed_loop(), name="perfpilot-engine-feed"),
        ]

    def samples_arrived(self) -> None:
        """Some replica committed samples (NOTIFY perfpilot_samples)."""
        self._wake.set()

    # -- EngineControl: commands about pairs this replica does not own are not ours ------
    def alert_closed(self, rule_id: str, service_name: str, group: Group = NO_GROUP) -> None:
        if self.owns(service_name):
            super().alert_closed(rule_id, service_name, group)

    def alert_acknowledged(self, rule_id: str, service_name: str, group: Group = NO_GROUP) -> None:
        if self.owns(service_name):
            super().alert_acknowledged(rule_id, service_name, group)

    async def resync(self) -> None:
        """Re-read what other replicas may have changed while this one was not listening
        (cluster/bus.py, on_resync): every rule (an unchanged rule keeps its timers), and
        the stored status of each open alert this replica holds (closed or acknowledged
        elsewhere: applied here as if the notification had arrived)."""
        held = {alert_id: pair for pair, alert_id in self._open.items()}
        async with self._readers() as session:
            stored_rules = await shard_repo.rule_ids(session)
            statuses = await shard_repo.alert_statuses(session, held)
        for rule_id in sorted(stored_rules | {spec.rule_id for spec in self.core.rules()}):
            self.rule_changed(rule_id)
        for alert_id, status in statuses.items():
            if status == "resolved":
                self.alert_closed(*held[alert_id])
            elif status == "acknowledged":
                self.alert_acknowledged(*held[alert_id])
        log.info("engine_resynced", rules=len(stored_rules), open_alerts=len(held))

    # -- shard hand-over (cluster/ownership.ShardEngine), between steps ------------------
    async def gain(self, shards: set[int]) -> None:
        async with self._step_lock:
            async with self._sessionmaker() as session, session.begin():
                marks = await shard_repo.claim_shards(session, shards, owner=self.replica_id)
            new = owner_test(set(shards), self.shard_count)
            async with self._readers() as session:
                opened = await restore_states(self.core, session, new)
                await self._load_windows(session, shards, marks)
                self.owned.update(shards)
                self._marks.update(marks)
                await self._restore_actions(session, new)
            self._open.update(opened)
        log.info("engine_shards_gained", shards=len(shards), open_alerts=len(opened))
        self._wake.set()

    async def lose(self, shards: set[int]) -> None:
        async with self._step_lock:  # every step so far is committed
            await self.run_deferred_acts()  # and its actions taken, by this owner
            self.owned.difference_update(shards)
            for shard in shards:
                self._marks.pop(shard, None)
            self.core.forget_services(self.owns)
            self._open = {p: a for p, a in self._open.items() if self.owns(p[1])}
            self.unactioned = [f for f in self.unactioned if self.owns(f[1].service_name)]
            if self.actions is not None:
                self.actions.forget_services(self.owns)
        log.info("engine_shards_lost", shards=len(shards))

    async def _load_windows(
        self, session: AsyncSession, shards: set[int], marks: dict[int, int]
    ) -> None:
        """The shards' recent evaluated samples (below each shard's watermark) into windows."""
        specs = [s for s in self.core.rules() if s.is_active]
        if not specs or not marks:
            return
        horizon = max(max(s.window for s in specs), self._settings.no_data_after_seconds)
        rows = await shard_repo.recent_samples(
            session,
            start=datetime.fromtimestamp(self._clock() - horizon, UTC),
            metrics=sorted({s.metric for s in specs}),
            below=max(marks.values()),
            shards=shards,
            shard_count=self.shard_count,
            max_rows=self._settings.engine_restore_max_samples,
        )
        self.core.load_samples(
            _sample(r)
            for r in reversed(rows)
            if r.xid is None or r.xid < marks[shard_of(r.service_name, self.shard_count)]
        )

    # -- the feed ------------------------------------------------------------------------
    async def _feed_loop(self) -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self._poll_seconds)
            self._wake.clear()
            if self.owned and not self._pull_queued:
                self._pull_queued = True
                self._put(FeedPull())

    async def _apply_other(self, item: Work, step: Step) -> None:
        if not isinstance(item, FeedPull):
            await super()._apply_other(item, step)
            return
        self._pull_queued = False
        if not self.owned:
            return
        owned = tuple(sorted(self.owned))
        async with self._readers() as session:
            high = await shard_repo.snapshot_xmin(session)
            low = min(self._marks[k] for k in owned)
            if high <= low:
                return
            found = await shard_repo.new_samples(
                session, low=low, high=high, shards=owned, shard_count=self.shard_count
            )
        rows = [
            _sample_row(r)
            for r in found
            if r.xid >= self._marks[shard_of(r.service_name, self.shard_count)]
        ]
        for shard in owned:
            self._marks[shard] = high
        if not rows:
            return  # nothing of ours in the range: saving the position can wait for rows
        step.position = Position(high, owned)
        self.evaluations += 1
        self._evaluate_rows(Samples(rows, None, time.time()), step)

    async def _save_position(self, session: AsyncSession, step: Step) -> None:
        if step.position is not None:
            await shard_repo.save_position(
                session,
                step.position.shards,
                watermark=step.position.watermark,
                owner=self.replica_id,
            )


def _labels(row: Any) -> dict[str, str] | None:
    return None if row.labels is None else cast(dict[str, str], orjson.loads(row.labels))


def _json(value: Any) -> Any:
    return orjson.loads(value) if isinstance(value, str | bytes) else value


def _histogram(row: Any) -> Histogram | None:
    """A histogram row's buckets (rows of the histogram table have `bounds`)."""
    if "bounds" not in row._fields:
        return None
    bounds, counts = _json(row.bounds), _json(row.counts)
    return Histogram(tuple(bounds), tuple(counts), row.sum, row.count)


def _sample(row: Any) -> Sample:
    histogram = _histogram(row)
    value = row.value if histogram is None else histogram.sum / histogram.count
    return Sample(
        row.service_name, row.metric_type, value, row.timestamp.timestamp(), _labels(row), histogram
    )


def _sample_row(row: Any) -> SampleRow:
    histogram = _histogram(row)
    out: SampleRow = {
        "id": str(row.id),
        "service_name": row.service_name,
        "metric_type": row.metric_type,
        "value": row.value if histogram is None else histogram.sum / histogram.count,
        "unit": row.unit,
        "timestamp": row.timestamp,
        "metadata": {},
        "labels": _labels(row) or {},
        "series_id": row.series_id,
    }
    if histogram is not None:
        out["histogram"] = histogram
    return out
