"""Executed actions whose measurement windows overlap on one service.

An action's measurement window runs from its execution to its `measure_due_at` (settle +
window). Two executed actions on the same service whose windows overlap each see the other's
effect in their measurement, so neither can claim the whole change. They list each other in
`overlaps_with`, and the group (the actions linked by overlaps) is credited once: to its
first action (earliest `executed_at`, then id), whose baseline precedes every action of the
group. The others keep their own figures on the row but have `credited = False`, and
reports and /stats count them as `overlapped`, not by their outcome.
"""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from perfpilot.actions import repository
from perfpilot.models import OptimizationAction


def _order(action: OptimizationAction) -> tuple[float, str]:
    return (action.executed_at.timestamp(), str(action.id))


async def link_overlaps(session: AsyncSession, action: OptimizationAction) -> None:
    """Record the overlaps of a newly executed action both ways, and who is credited."""
    if action.measure_due_at is None:
        return
    others = await repository.overlapping_actions(
        session,
        service_name=action.service_name,
        start=action.executed_at,
        end=action.measure_due_at,
        exclude=action.id,
    )
    if not others:
        return
    action.overlaps_with = sorted(str(o.id) for o in others)
    mine = _order(action)
    action.credited = not any(_order(o) < mine for o in others)
    for other in others:
        # a new list, not an in-place append, so the JSON column is seen as changed
        other.overlaps_with = sorted({*(other.overlaps_with or []), str(action.id)})
        if mine < _order(other):  # a late action that executed earlier takes the credit
            other.credited = False
    await session.flush()
