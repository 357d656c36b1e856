"""Scrape targets: create, read, change, delete; the scheduler hears of each change after its
commit."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import UTC, datetime

from sqlalchemy.ext.asyncio import AsyncSession

from perfpilot.collection import repository
from perfpilot.collection.hub import CollectionHub
from perfpilot.collection.scheduler import Health
from perfpilot.collection.sink import known_type
from perfpilot.collection.target_schemas import (
    MappingRule,
    TargetHealth,
    TargetIn,
    TargetOut,
    TargetUpdate,
)
from perfpilot.core.db import after_commit
from perfpilot.core.errors import InvalidField, NotFound
from perfpilot.core.outbound import OutboundKind, OutboundPolicy, OutboundRefused
from perfpilot.models import ScrapeTarget


def parse_id(raw: str) -> uuid.UUID:
    """A malformed id names no target: 404, like an unknown one."""
    try:
        return uuid.UUID(raw)
    except ValueError:
        raise NotFound(f"Target {raw!r} not found") from None


def _invalid(field: str, message: str, kind: str = "value_error") -> InvalidField:
    detail = {"field": field, "in": "body", "message": message, "type": kind}
    return InvalidField(f"Invalid request: {field}: {message}", details=[detail])


async def _check(body: TargetIn, policy: OutboundPolicy) -> None:
    """The address policy on the URL (checked again at each connection), registered types."""
    try:
        await policy.check_url(body.url, OutboundKind.scrape)
    except OutboundRefused as exc:
        raise _invalid("url", str(exc), "outbound_refused") from None
    for name, rule in body.mapping.items():
        if not known_type(rule.type):
            raise _invalid(f"mapping.{name}.type", f"metric type {rule.type!r} is not registered")
        if (rule.kind == "ratio") != bool(rule.denominator):
            message = "denominator goes with kind ratio, and only with it"
            raise _invalid(f"mapping.{name}.denominator", message)


def _notify(session: AsyncSession, hub: CollectionHub, target_id: uuid.UUID) -> None:
    scheduler = hub.scraper
    if scheduler is not None:
        after_commit(session, lambda: scheduler.reload(target_id))


def _apply(target: ScrapeTarget, body: TargetIn) -> None:
    target.url = body.url
    target.service_name = body.service_name
    target.preset = body.preset
    target.mapping = {k: v.model_dump(exclude_defaults=True) for k, v in body.mapping.items()}
    target.interval_seconds = body.interval
    target.timeout_seconds = body.timeout
    target.labels = dict(body.labels)
    if body.headers is not None:
        target.headers = dict(body.headers)
    target.is_active = body.is_active


async def create_target(
    session: AsyncSession, body: TargetIn, *, policy: OutboundPolicy, hub: CollectionHub
) -> ScrapeTarget:
    await _check(body, policy)
    now = datetime.now(UTC)
    target = ScrapeTarget(id=uuid.uuid4(), headers={}, created_at=now, updated_at=now)
    _apply(target, body)
    await repository.add_target(session, target)
    _notify(session, hub, target.id)
    return target


async def get_target(session: AsyncSession, target_id: uuid.UUID) -> ScrapeTarget:
    target = await repository.get_target(session, target_id)
    if target is None:
        raise NotFound(f"Target {target_id} not found")
    return target


async def list_targets(session: AsyncSession) -> Sequence[ScrapeTarget]:
    return await repository.list_targets(session)


def _as_input(target: ScrapeTarget, update: TargetUpdate) -> TargetIn:
    """The target as it will be: the stored fields, with the update's over them, validated
    whole (e.g. a new timeout is checked against the kept interval)."""
    current = {
        "url": target.url,
        "serviceName": target.service_name,
        "preset": target.preset,
        "mapping": target.mapping,
        "interval": target.interval_seconds,
        "timeout": target.timeout_seconds,
        "labels": target.labels,
        "isActive": target.is_active,
    }
    changes = update.model_dump(by_alias=True, exclude_unset=True)
    if changes.get("preset", target.preset) != "prometheus" and "mapping" not in changes:
        current["mapping"] = {}
    return TargetIn.model_validate({**current, **changes})


async def update_target(
    session: AsyncSession,
    target_id: uuid.UUID,
    update: TargetUpdate,
    *,
    policy: OutboundPolicy,
    hub: CollectionHub,
) -> ScrapeTarget:
    target = await get_target(session, target_id)
    body = _as_input(target, update)
    await _check(body, policy)
    _apply(target, body)
    target.updated_at = datetime.now(UTC)
    await session.flush()
    _notify(session, hub, target.id)
    return target


async def delete_target(
    session: AsyncSession, target_id: uuid.UUID, *, hub: CollectionHub
) -> ScrapeTarget:
    target = await get_target(session, target_id)
    await repository.delete_target(session, target)
    _notify(session, hub, target_id)
    return target


def target_out(target: ScrapeTarget, hub: CollectionHub) -> TargetOut:
    health = Health()
    if hub.scraper is not None:
        health = hub.scraper.health.get(target.id, health)
    return TargetOut(
        id=target.id,
        url=target.url,
        service_name=target.service_name,
        preset=target.preset,
        mapping={k: MappingRule.model_validate(v) for k, v in target.mapping.items()},
        interval=target.interval_seconds,
        timeout=target.timeout_seconds,
        labels=dict(target.labels),
        header_names=sorted(target.headers),
        is_active=target.is_active,
        created_at=target.created_at,
        updated_at=target.updated_at,
        health=TargetHealth(
            up=health.up,
            last_scrape_at=health.last_scrape_at,
            last_duration_ms=health.last_duration_ms,
            samples=health.samples,
            series=health.series,
            last_error=health.last_error,
        ),
    )
