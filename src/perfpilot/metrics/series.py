"""Registration of labelled series by the ingest writer, and the cardinality limit.

A labelled sample's row names its series by id (metrics/labels.py); the series row and its
label pairs must exist for label filters to find it. The writer (one task, ingest.py) hands
each group's series this process cannot vouch for to `SeriesRegistry.admit` before inserting
the samples. Per service, under a lock held until commit (an advisory lock on PostgreSQL, so
replicas take turns; SQLite has a single writer), it reads the service's label sets (those
with a sample left: retention frees the others), admits
submissions in arrival order and refuses, whole, each one that would take the service past
`limit` distinct label sets: its request gets a 422 `cardinality_limit`, its neighbours are
stored, and nothing is dropped silently.
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine

from perfpilot.core.errors import PerfpilotError
from perfpilot.metrics import repository
from perfpilot.metrics.labels import labels_hash, labels_json
from perfpilot.metrics.stream import SampleRow

# a series seen with a sample this much younger than the retention horizon is trusted
_MARGIN_SECONDS = 86_400.0


class CardinalityLimitExceeded(PerfpilotError):
    status_code = 422
    code = "cardinality_limit"


@dataclass(slots=True)
class NewSeries:
    """A submission's series to admit: id -> first row, and that row's position in the
    submission (to name the sample in a batch)."""

    rows: dict[int, tuple[int, SampleRow]]


def new_series(
    rows: Sequence[SampleRow], known: Mapping[int, float], *, trusted_after: float
) -> NewSeries | None:
    """The labelled series of `rows` to admit, or None (the common case): those this process
    has not seen committed a sample of since `trusted_after` (such a series still holds that
    sample, so it counts already; any other may be new, or back after retention)."""
    found: dict[int, tuple[int, SampleRow]] | None = None
    for position, row in enumerate(rows):
        sid = row["series_id"]
        if sid is not None and known.get(sid, -math.inf) < trusted_after:
            if found is None:
                found = {}
            if sid not in found:
                found[sid] = (position, row)
    return None if found is None else NewSeries(found)


def _refusal(
    service: str, limit: int, position: int, batch: bool, row: SampleRow
) -> CardinalityLimitExceeded:
    message = (
        f"service {service!r} has reached its cardinality limit of {limit} label sets: "
        f"labels {labels_json(row['labels'])} would be a new one (send fewer distinct label "
        "values, or raise PERFPILOT_CARDINALITY_LIMIT)"
    )
    detail: dict[str, Any] = {
        "field": f"samples.{position}.labels" if batch else "labels",
        "message": message,
        "type": "cardinality_limit",
        "serviceName": service,
        "limit": limit,
    }
    if batch:
        detail["index"] = position
    return CardinalityLimitExceeded(message, details=[detail])


class SeriesRegistry:
    """Admission and registration of labelled series, and the series this process may trust:
    `known` holds the newest committed sample time of each series it wrote. A series with a
    sample newer than the retention horizon (plus a day of margin) still holds a sample, so
    its label set counts already and its samples skip admission.
    """

    def __init__(self, engine: AsyncEngine, *, limit: int, retention_seconds: float) -> None:
        self._engine = engine
        self.limit = limit
        self.known: dict[int, float] = {}
        self._trust_for = max(retention_seconds - _MARGIN_SECONDS, 0.0)

    def trusted_after(self) -> float:
        return time.time() - self._trust_for

    def committed(self, rows: Sequence[SampleRow]) -> None:
        """Remember the newest sample time of each labelled series in committed rows."""
        known = self.known
        for row in rows:
            sid = row["series_id"]
            if sid is not None:
                ts = row["timestamp"].timestamp()
                if ts > known.get(sid, -math.inf):
                    known[sid] = ts

    async def admit(
        self, submissions: Sequence[tuple[NewSeries, int]]
    ) -> Mapping[int, CardinalityLimitExceeded]:
        """Admit and register the series of each (NewSeries, row count) in one transaction;
        returns the refused submissions by position, with their error."""
        refused: dict[int, CardinalityLimitExceeded] = {}
        async with self._engine.begin() as connection:
            services = sorted(
                {row["service_name"] for new, _ in submissions for _, row in new.rows.values()}
            )
            label_sets: dict[str, set[int]] = {}
            for service in services:  # in name order: replicas lock in the same order
                await repository.lock_service_series(connection, service)
                label_sets[service] = await repository.service_label_sets(connection, service)
            series: dict[int, dict[str, Any]] = {}
            pairs: list[dict[str, Any]] = []
            now = datetime.now(UTC)
            for index, (new, count) in enumerate(submissions):
                added: dict[str, set[int]] = {}
                rows: dict[int, dict[str, Any]] = {}
                problem = None
                for sid, (position, row) in new.rows.items():
                    service = row["service_name"]
                    canonical = labels_json(row["labels"])
                    digest = labels_hash(canonical)
                    sets = added.setdefault(service, set())
                    if digest not in label_sets[service] and digest not in sets:
                        if len(label_sets[service]) + len(sets) >= self.limit:
                            problem = _refusal(service, self.limit, position, count > 1, row)
                            break
                        sets.add(digest)
                    rows[sid] = {
                        "id": sid,
                        "service_name": service,
                        "metric_type": row["metric_type"],
                        "labels": canonical,
                        "labels_hash": digest,
                        "created_at": now,
                    }
                if problem is not None:
                    refused[index] = problem
                    continue
                for service, sets in added.items():
                    label_sets[service] |= sets
                for sid, values in rows.items():
                    if sid not in series:
                        series[sid] = values
                        pairs.extend(
                            {"series_id": sid, "name": name, "value": value}
                            for name, value in new.rows[sid][1]["labels"].items()
                        )
            # registered once: a series already there (even with no sample left) is kept as is
            await repository.insert_series(connection, list(series.values()), pairs)
        return refused
