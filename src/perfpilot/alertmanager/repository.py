"""SQL for the Alertmanager integration: what each Alertmanager was told (notices), bindings,
and received alerts."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Table, and_, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from perfpilot.models import AlertmanagerBinding, AlertmanagerNotice, PerformanceAlert
from perfpilot.models.alerts import OPEN_STATUSES

_n = AlertmanagerNotice


async def due_firing(
    session: AsyncSession, target: str, *, resend_before: datetime, limit: int
) -> Sequence[PerformanceAlert]:
    """Open alerts this Alertmanager has not received since `resend_before` (or ever)."""
    joined = and_(_n.alert_id == PerformanceAlert.id, _n.target == target)
    query = (
        select(PerformanceAlert)
        .outerjoin(_n, joined)
        .where(
            PerformanceAlert.status.in_(OPEN_STATUSES),
            (_n.last_sent_at.is_(None)) | (_n.last_sent_at <= resend_before),
        )
        .order_by(PerformanceAlert.triggered_at)
        .limit(limit)
    )
    return (await session.execute(query)).scalars().all()


async def due_ended(
    session: AsyncSession, target: str, *, limit: int
) -> Sequence[PerformanceAlert]:
    """Resolved alerts this Alertmanager was sent (or tried to be sent) but not told ended."""
    query = (
        select(PerformanceAlert)
        .join(_n, _n.alert_id == PerformanceAlert.id)
        .where(
            _n.target == target,
            _n.ended_sent_at.is_(None),
            PerformanceAlert.status == "resolved",
        )
        .limit(limit)
    )
    return (await session.execute(query)).scalars().all()


async def record(
    session: AsyncSession,
    target: str,
    *,
    firing: Sequence[uuid.UUID],
    ended: Sequence[uuid.UUID],
    now: datetime,
    error: str | None,
) -> None:
    """One attempt's outcome: on success (error None) the firing ones were received now and
    the ended ones are done; on failure, rows exist so their ends are owed."""
    if firing:
        rows: list[dict[str, Any]] = [
            {
                "target": target,
                "alert_id": alert_id,
                "last_sent_at": now if error is None else None,
                "attempts": 1,
                "last_error": error,
            }
            for alert_id in firing
        ]
        dialect = session.get_bind().dialect.name
        insert = pg_insert if dialect == "postgresql" else sqlite_insert
        table: Table = AlertmanagerNotice.__table__  # type: ignore[assignment]
        statement = insert(table).values(rows)
        changes: dict[str, Any] = {
            "attempts": table.c.attempts + 1,
            "last_error": statement.excluded.last_error,
        }
        if error is None:
            changes["last_sent_at"] = statement.excluded.last_sent_at
        await session.execute(
            statement.on_conflict_do_update(index_elements=["target", "alert_id"], set_=changes)
        )
    if ended:
        values: dict[str, Any] = {"attempts": _n.attempts + 1, "last_error": error}
        if error is None:
            values["ended_sent_at"] = now
        await session.execute(
            update(_n).where(_n.target == target, _n.alert_id.in_(ended)).values(**values)
        )


# --- bindings and received alerts ------------------------------------------------------------


async def list_bindings(
    session: AsyncSession, *, active_only: bool = False
) -> Sequence[AlertmanagerBinding]:
    """Oldest first (the first match applies)."""
    query = select(AlertmanagerBinding)
    if active_only:
        query = query.where(AlertmanagerBinding.is_active.is_(True))
    query = query.order_by(AlertmanagerBinding.created_at, AlertmanagerBinding.id)
    return (await session.execute(query)).scalars().all()


async def get_binding(session: AsyncSession, binding_id: uuid.UUID) -> AlertmanagerBinding | None:
    return await session.get(AlertmanagerBinding, binding_id)


async def add_binding(session: AsyncSession, binding: AlertmanagerBinding) -> None:
    session.add(binding)
    await session.flush()


async def delete_binding(session: AsyncSession, binding: AlertmanagerBinding) -> None:
    await session.delete(binding)
    await session.flush()


async def seen_alert(session: AsyncSession, fingerprint: str, starts_at: datetime) -> bool:
    """Whether an alert with this fingerprint started at `starts_at` exists (any status)."""
    query = select(PerformanceAlert.id).where(
        PerformanceAlert.fingerprint == fingerprint, PerformanceAlert.triggered_at == starts_at
    )
    return (await session.execute(query.limit(1))).first() is not None
