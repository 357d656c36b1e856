"""A series (service, metric) and its rules, grouped so a sample meets only the rules it can move.

Rules sharing (aggregation, window) share one aggregate per evaluation. Within a group the
thresholds of each operator are sorted, so the rules whose condition holds for a value are
found by one binary search: an idle pair (no pending or firing state) whose condition is
false cannot change, so it is never visited. Pairs with state are visited through the
series' states, which are few.
"""

from __future__ import annotations

import math
from bisect import bisect_left, bisect_right
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from perfpilot.engine.histograms import HistogramWindow
from perfpilot.engine.selectors import NO_GROUP, PLAIN, Group, Selector
from perfpilot.engine.state_machine import RuleSpec, RuleState, condition_holds
from perfpilot.engine.windows import SlidingWindow

# (rule_id, service_name, group): one alert state per rule, service and groupBy values
Pair = tuple[str, str, Group]


@dataclass(frozen=True, slots=True)
class PairFailure:
    """One (rule, service) evaluation that raised: skipped, its state left as it was."""

    rule_id: str
    service_name: str
    error: Exception


def rule_matches(spec: RuleSpec, service_name: str, metric: str) -> bool:
    """Whether an active rule applies to a (service, metric) series."""
    return (
        spec.is_active
        and spec.metric == metric
        and (spec.service_name is None or spec.service_name == service_name)
    )


class _Sorted:
    """Rules of one operator, by threshold."""

    __slots__ = ("specs", "thresholds")

    def __init__(self, specs: Iterable[RuleSpec]) -> None:
        ordered = sorted(specs, key=lambda s: (s.threshold, s.rule_id))
        self.specs = tuple(ordered)
        self.thresholds = [s.threshold for s in ordered]


class RuleGroup:
    """Rules of one series with the same aggregation and window."""

    __slots__ = (
        "_eq",
        "_gt",
        "_gte",
        "_lt",
        "_lte",
        "aggregation",
        "anomalous",
        "quiet_above",
        "quiet_below",
        "specs",
        "window",
    )

    def __init__(self, aggregation: str, window: float, specs: Sequence[RuleSpec]) -> None:
        self.aggregation = aggregation
        self.window = window
        self.specs = tuple(specs)
        # anomalous rules compare an excess over a forecast band, not the aggregate: the
        # core evaluates them one by one (EvaluationCore._anomalous), never through the index
        self.anomalous = tuple(s for s in specs if s.anomaly is not None)
        specs = [s for s in specs if s.anomaly is None]
        self._gt = _Sorted(s for s in specs if s.operator == "gt")
        self._gte = _Sorted(s for s in specs if s.operator == "gte")
        self._lt = _Sorted(s for s in specs if s.operator == "lt")
        self._lte = _Sorted(s for s in specs if s.operator == "lte")
        self._eq = tuple(s for s in specs if s.operator == "eq")
        # No condition holds for quiet_above <= value <= quiet_below: one chained comparison
        # settles the common case (every rule idle and false) without a call.
        inf = math.inf
        below = min(self._gt.thresholds, default=inf)  # gt holds above its lowest threshold
        below = min(below, math.nextafter(min(self._gte.thresholds, default=inf), -inf))
        above = max(self._lt.thresholds, default=-inf)
        above = max(above, math.nextafter(max(self._lte.thresholds, default=-inf), inf))
        if self._eq:
            above, below = inf, -inf  # never quiet: eq rules are checked one by one
        self.quiet_above = above
        self.quiet_below = below

    def holding(self, value: float) -> list[RuleSpec]:
        """The rules whose condition holds for ``value`` (condition_holds, found by search)."""
        out: list[RuleSpec] = []
        gt, gte, lt, lte = self._gt, self._gte, self._lt, self._lte
        if gt.specs:  # threshold < value
            out.extend(gt.specs[: bisect_left(gt.thresholds, value)])
        if gte.specs:  # threshold <= value
            out.extend(gte.specs[: bisect_right(gte.thresholds, value)])
        if lt.specs:  # threshold > value
            out.extend(lt.specs[bisect_right(lt.thresholds, value) :])
        if lte.specs:  # threshold >= value
            out.extend(lte.specs[bisect_left(lte.thresholds, value) :])
        for spec in self._eq:  # tolerance comparisons: few rules, checked one by one
            if condition_holds("eq", value, spec.threshold):
                out.append(spec)
        return out


RuleIndex = tuple[tuple[RuleGroup, ...], dict[str, int]]  # groups, rule_id -> group position


def index_rules(specs: Sequence[RuleSpec]) -> RuleIndex:
    """Group a series' matching rules by (aggregation, window), and say where each one went."""
    by_key: dict[tuple[str, float], list[RuleSpec]] = {}
    for spec in specs:
        by_key.setdefault((spec.aggregation, spec.window), []).append(spec)
    groups = tuple(RuleGroup(agg, window, group) for (agg, window), group in by_key.items())
    position = {spec.rule_id: i for i, group in enumerate(groups) for spec in group.specs}
    return groups, position


class Series:
    """One (service, metric): its window, the rules that match it and their live states.

    The plain series holds every sample and the rules with the plain selector; a grouped
    series (`selector` set) holds the samples one labelled rule selector lets through for one
    `group` of values, and the rules with that selector (engine/selectors.py).
    """

    __slots__ = (
        "generation",
        "group",
        "group_of",
        "groups",
        "histograms",
        "rules",
        "selector",
        "selectors",
        "states",
        "window",
    )

    def __init__(
        self, window: SlidingWindow, selector: Selector = PLAIN, group: Group = NO_GROUP
    ) -> None:
        self.window = window
        self.selector = selector
        self.group = group
        # plain series only: the labelled selectors of the rules that match (service, metric)
        self.selectors: tuple[Selector, ...] = ()
        self.rules: tuple[RuleSpec, ...] = ()
        # The same rules grouped (shared between series with the same rules), and each rule's
        # group position: series.groups[series.group_of[rule_id]].
        self.groups: tuple[RuleGroup, ...] = ()
        self.group_of: dict[str, int] = {}
        self.states: dict[str, RuleState] = {}  # rule_id -> pending/firing state
        self.generation = -1  # rule-set version ``rules`` was computed for
        self.histograms: HistogramWindow | None = None  # once a histogram sample arrives
