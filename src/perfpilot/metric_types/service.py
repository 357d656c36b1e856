"""The metric registry's user types: create, list, delete, and keeping REGISTRY current.

REGISTRY (metrics/units.py) is what validation, rules, reports and live views consult. It is
loaded from the database when the app starts and reloaded after every committed write here,
so a new type is accepted by the next request without a restart.
"""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from perfpilot.core.db import after_commit
from perfpilot.core.errors import Conflict, NotFound
from perfpilot.metric_types import repository
from perfpilot.metric_types.schemas import MetricTypeIn, MetricTypeOut
from perfpilot.metrics.histogram_repository import types_with_histograms
from perfpilot.metrics.units import METRIC_SPECS, REGISTRY, MetricSpec
from perfpilot.models import UserMetricType


def spec_of(row: UserMetricType) -> MetricSpec:
    return MetricSpec(
        row.unit,
        dict(row.units or {}),
        minimum=row.minimum,
        maximum=row.maximum,
        better=row.better,  # type: ignore[arg-type]  # written only through MetricTypeIn
        builtin=False,
    )


async def load_registry(sessions: async_sessionmaker[AsyncSession]) -> None:
    """Replace REGISTRY's user types with those stored."""
    async with sessions() as session:
        rows = await repository.list_user_types(session)
        REGISTRY.replace_user_types((row.name, spec_of(row)) for row in rows)
        found = await types_with_histograms(session, REGISTRY.names())
        REGISTRY.histogram_types = tuple(sorted(found))


def type_out(name: str, spec: MetricSpec, row: UserMetricType | None = None) -> MetricTypeOut:
    return MetricTypeOut(
        name=name,
        unit=spec.canonical,
        units=dict(spec.factors),
        better=spec.better,
        minimum=spec.minimum,
        maximum=spec.maximum,
        builtin=spec.builtin,
        created_at=row.created_at if row is not None else None,
    )


async def list_types(session: AsyncSession) -> list[MetricTypeOut]:
    """Built-ins in table order, then the stored user types by name."""
    builtins = [type_out(name, spec) for name, spec in METRIC_SPECS.items()]
    rows = await repository.list_user_types(session)
    return builtins + [type_out(row.name, spec_of(row), row) for row in rows]


async def get_type(session: AsyncSession, name: str) -> MetricTypeOut:
    builtin = METRIC_SPECS.get(name)
    if builtin is not None:
        return type_out(name, builtin)
    row = await repository.get_user_type(session, name)
    if row is None:
        raise NotFound(f"Metric type {name!r} not found")
    return type_out(row.name, spec_of(row), row)


def _name_conflict(message: str) -> Conflict:
    return Conflict(message, details=[{"field": "name", "message": message, "type": "conflict"}])


async def create_type(
    session: AsyncSession, body: MetricTypeIn, *, sessions: async_sessionmaker[AsyncSession]
) -> MetricTypeOut:
    if body.name in METRIC_SPECS:
        raise _name_conflict(f"{body.name!r} is a built-in metric type and cannot be redefined")
    if await repository.get_user_type(session, body.name) is not None:
        raise _name_conflict(f"metric type {body.name!r} already exists")
    row = UserMetricType(
        name=body.name,
        unit=body.unit,
        units=dict(body.units),
        better=body.better,
        minimum=body.minimum,
        maximum=body.maximum,
    )
    await repository.add_user_type(session, row)
    after_commit(session, lambda: load_registry(sessions))
    return type_out(row.name, spec_of(row), row)


async def delete_type(
    session: AsyncSession, name: str, *, sessions: async_sessionmaker[AsyncSession]
) -> MetricTypeOut:
    if name in METRIC_SPECS:
        message = f"{name!r} is a built-in metric type and cannot be deleted"
        raise Conflict(message, details=[{"field": "name", "message": message, "type": "conflict"}])
    row = await repository.get_user_type(session, name)
    if row is None:
        raise NotFound(f"Metric type {name!r} not found")
    used = await repository.references(session, name)
    if used:
        message = f"metric type {name!r} is in use by {', '.join(used)}; delete those first"
        raise Conflict(message, details=[{"field": "name", "message": message, "type": "in_use"}])
    out = type_out(row.name, spec_of(row), row)
    await repository.delete_user_type(session, row)
    after_commit(session, lambda: load_registry(sessions))
    return out
