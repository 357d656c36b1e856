"""Rule changes that reach beyond the rules table: the running engine and open alerts."""

from __future__ import annotations

import uuid

from sqlalchemy.ext.asyncio import AsyncSession

from perfpilot.alerts.service import resolve_for_deleted_rule
from perfpilot.core.context import AppContext
from perfpilot.core.db import after_commit
from perfpilot.models import OptimizationRule
from perfpilot.rules import repository
from perfpilot.rules.service import get_rule


def announce_rule_change(session: AsyncSession, ctx: AppContext, rule_id: uuid.UUID) -> None:
    """Once committed, the engine reloads the rule: effective from the next sample."""
    control = ctx.engine_control
    if control is not None:
        key = str(rule_id)
        after_commit(session, lambda: control.rule_changed(key))


async def delete_rule_and_resolve(
    session: AsyncSession, ctx: AppContext, rule_id: uuid.UUID, *, by: str
) -> OptimizationRule:
    """Resolve the rule's open alerts (reason `rule_deleted`), then delete it."""
    rule = await get_rule(session, rule_id)
    await resolve_for_deleted_rule(session, rule_id, by=by)
    await repository.delete_rule(session, rule)
    announce_rule_change(session, ctx, rule_id)
    return rule
