"""The period's actions summarised per action type, with their measured impact.

Executed actions are counted once each, by what their measurement says:
executed = improved + worsened + no_change + capacity_saved + unmeasured + pending + overlapped.
`overlapped` holds the actions whose measurement window overlapped an earlier executed action
on the same service (actions/overlaps.py): the group is credited once, to its first action,
so an improvement seen by several overlapping actions is not counted several times. `impact`
is the mean directional impact of the credited actions that have one (`measured` of them);
capacity reductions are judged by their guard instead and count as capacity_saved or worsened.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from perfpilot.reports.repository import ActionGroup
from perfpilot.reports.schemas import OptimizationOut

# DESIGN's impact verification: improved at +2 % or better
IMPROVED_AT = 0.02
# an action type "did not help" once this many of its executions were measured
MIN_MEASURED = 2


@dataclass
class ActionTally:
    executed: int = 0
    skipped: int = 0
    failed: int = 0
    dry_run: int = 0
    improved: int = 0
    worsened: int = 0
    no_change: int = 0
    capacity_saved: int = 0
    unmeasured: int = 0
    pending: int = 0
    overlapped: int = 0
    impact_sum: float = 0.0
    measured: int = 0
    metrics: set[str] = field(default_factory=set)

    @property
    def impact(self) -> float | None:
        return self.impact_sum / self.measured if self.measured else None

    def add(self, group: ActionGroup) -> None:
        if group.metric_type:
            self.metrics.add(group.metric_type)
        if group.status == "skipped":
            self.skipped += group.count
        elif group.status == "failed":
            self.failed += group.count
        elif group.status == "dry_run":
            self.dry_run += group.count
        elif group.status == "executed":
            self.executed += group.count
            n = group.count
            if not group.credited:
                self.overlapped += n
                return
            if group.outcome == "improved":
                self.improved += n
            elif group.outcome == "worsened":
                self.worsened += n
            elif group.outcome == "no_change":
                self.no_change += n
            elif group.outcome == "capacity_saved":
                self.capacity_saved += n
            elif group.outcome == "unmeasured":
                self.unmeasured += n
            else:  # not measured yet
                self.pending += n
            self.measured += group.impact_count
            self.impact_sum += group.impact_sum


def tally(groups: Sequence[ActionGroup], *, by_metric: bool = False) -> dict[str, ActionTally]:
    """Per action type (or per "type:metric" when by_metric)."""
    out: dict[str, ActionTally] = {}
    for group in groups:
        key = f"{group.action_type}:{group.metric_type}" if by_metric else group.action_type
        out.setdefault(key, ActionTally()).add(group)
    return out


def _describe(kind: str, t: ActionTally) -> str:
    parts = [f"{t.executed} {kind} executed"]
    if t.skipped or t.failed or t.dry_run:
        parts.append(f"{t.skipped} skipped, {t.failed} failed, {t.dry_run} dry runs")
    if t.measured:
        metrics = ", ".join(sorted(t.metrics)) or "its metric"
        parts.append(
            f"{t.measured} measured ({t.improved} improved, {t.no_change} no change, "
            f"{t.worsened} worsened): mean impact {t.impact or 0.0:+.1%} on {metrics}"
        )
    elif t.executed:
        parts.append("none measured by direction")
    if t.capacity_saved:
        parts.append(f"{t.capacity_saved} saved capacity within their guard")
    if t.overlapped:
        parts.append(
            f"{t.overlapped} overlapped an earlier action's measurement window (not credited)"
        )
    return "; ".join(parts)


def _advise(kind: str, t: ActionTally) -> str | None:
    impact = t.impact
    if impact is None or t.measured < MIN_MEASURED:
        return None
    if impact < IMPROVED_AT:
        return (
            f"{kind} did not measurably help ({impact:+.1%} over {t.measured} measured); "
            "review the rules that trigger it or choose another action"
        )
    return f"{kind} helps ({impact:+.1%} over {t.measured} measured); keep it"


def optimizations(groups: Sequence[ActionGroup]) -> list[OptimizationOut]:
    tallies = tally(groups)
    ordered = sorted(tallies.items(), key=lambda kv: (-kv[1].executed, kv[0]))
    return [
        OptimizationOut(
            type=kind,
            impact=t.impact,
            description=_describe(kind, t),
            recommendation=_advise(kind, t),
            executed=t.executed,
            skipped=t.skipped,
            failed=t.failed,
            dry_run=t.dry_run,
            measured=t.measured,
            improved=t.improved,
            worsened=t.worsened,
            no_change=t.no_change,
            capacity_saved=t.capacity_saved,
            unmeasured=t.unmeasured,
            pending=t.pending,
            overlapped=t.overlapped,
            metrics=sorted(t.metrics),
        )
        for kind, t in ordered
    ]
