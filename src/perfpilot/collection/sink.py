"""Collected samples -> the validation and group-commit ingest path of the JSON batch API.

Each sample is checked as a pushed one would be (validation.py: service name, type, unit,
bounds, range, timestamp; labels were checked on conversion); the valid ones are committed by
the same ingest writer, so rules and alerts see them as they see pushed samples. The invalid
ones are counted with a reason.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass, field

from perfpilot.collection.convert import MAX_REASONS
from perfpilot.collection.samples import CollectedSample
from perfpilot.collection.validation import SampleCheck
from perfpilot.metrics.canonical import CanonicalSample
from perfpilot.metrics.ingest import IngestWriter
from perfpilot.metrics.series import CardinalityLimitExceeded
from perfpilot.metrics.service import record_canonical
from perfpilot.metrics.units import REGISTRY, UnitError, conversion_factor


@dataclass(slots=True)
class SinkResult:
    accepted: int = 0
    rejected: int = 0
    reasons: list[str] = field(default_factory=list)

    def reject(self, reason: str) -> None:
        self.rejected += 1
        if len(self.reasons) < MAX_REASONS and reason not in self.reasons:
            self.reasons.append(reason)


def known_type(metric_type: str) -> bool:
    """Whether the registry knows the metric type."""
    return metric_type in REGISTRY


def unit_accepted(metric_type: str, unit: str) -> bool:
    """Whether the registry converts `unit` for `metric_type`."""
    if metric_type not in REGISTRY:
        return False
    try:
        conversion_factor(metric_type, unit)
    except UnitError:
        return False
    return True


async def ingest_collected(
    writer: IngestWriter,
    samples: Sequence[CollectedSample],
    *,
    ready: Sequence[CanonicalSample] = (),
    check: SampleCheck | None = None,
) -> SinkResult:
    """Validate and commit (group commit) the samples, with those already validated (`ready`,
    by `check`); returns once the valid samples are committed."""
    result = SinkResult()
    check = check or SampleCheck()
    valid = list(ready)
    for sample in samples:
        checked = check.collected(sample)
        if isinstance(checked, str):
            result.reject(checked)
        else:
            valid.append(checked)
    if not valid:
        return result
    try:
        await record_canonical(writer, valid)
    except CardinalityLimitExceeded:
        await _record_per_service(writer, valid, result)
    else:
        result.accepted = len(valid)
    return result


async def _record_per_service(
    writer: IngestWriter, valid: list[CanonicalSample], result: SinkResult
) -> None:
    """Some service is past its cardinality limit: one submission per service, so only that
    service's samples are refused."""
    by_service: dict[str, list[CanonicalSample]] = {}
    for sample in valid:
        by_service.setdefault(sample.service_name, []).append(sample)
    groups = list(by_service.values())
    outcomes = await asyncio.gather(
        *(record_canonical(writer, group) for group in groups), return_exceptions=True
    )
    for group, outcome in zip(groups, outcomes, strict=True):
        if isinstance(outcome, CardinalityLimitExceeded):
            for _ in group:
                result.reject(outcome.message)
        elif isinstance(outcome, BaseException):
            raise outcome
        else:
            result.accepted += len(group)
