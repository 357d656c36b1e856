"""``EvaluationCore``: rules indexed by series, sliding windows and per-pair alert states.

Pure and synchronous: samples and explicit times in, ``AlertTransition`` lists out. The loops
around it persist transitions and states; nothing here touches a database or a clock.

Memory model: a ``RuleState`` exists only while its (rule, service, group) pair is pending or
firing (an inactive state behaves exactly like no state), so idle pairs cost nothing. Each
series keeps the points of its largest matching rule window; a series no rule matches keeps
only its newest point (enough for "latest value" and no-data checks).

Labels: rules with matchers or groupBy (engine/selectors.py) read grouped series, one per
(service, metric, selector, group values), fed with the samples the selector lets through;
the plain series of (service, metric) still receives every sample.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterable, Mapping
from dataclasses import replace
from operator import attrgetter
from types import MappingProxyType
from typing import Final, Protocol

from perfpilot.engine.histograms import Histogram, HistogramWindow, series_aggregate
from perfpilot.engine.preview import preview_sample
from perfpilot.engine.selectors import NO_GROUP, Group, Selector
from perfpilot.engine.series import (
    Pair,
    PairFailure,
    RuleIndex,
    Series,
    index_rules,
    rule_matches,
)
from perfpilot.engine.state_machine import (
    AlertTransition,
    Phase,
    RuleSpec,
    RuleState,
    acknowledge,
    condition_holds,
    evaluate,
    excess,
    manual_resolve,
    mark_no_data,
)
from perfpilot.engine.windows import DEFAULT_WINDOW_CAP, Sample, SlidingWindow

__all__ = ["EvaluationCore", "Pair", "PairFailure", "rule_matches"]


_by_ts: Final = attrgetter("ts")
_FLOAT_MAX: Final = sys.float_info.max
_NO_LABELS: Final[Mapping[str, str]] = MappingProxyType({})


class BandSource(Protocol):
    """Forecast intervals of anomalous rules, computed elsewhere (off the engine's path)."""

    def band(self, rule_id: str, service: str, t: float) -> tuple[float, float] | None:
        """(low, high) of the rule's interval at `t`; None while learning or out of date."""
        ...


class EvaluationCore:
    """Evaluate rules against samples and time; see the module docstring for the model."""

    __slots__ = (
        "_failures",
        "_generation",
        "_grouped",
        "_indexes",
        "_no_data_after",
        "_rules",
        "_series",
        "_specific",
        "_wildcard",
        "_window_cap",
        "bands",
        "skipped_samples",
    )

    def __init__(self, no_data_after: float = 300.0, window_cap: int = DEFAULT_WINDOW_CAP) -> None:
        if not no_data_after > 0:
            raise ValueError("no_data_after must be > 0")
        self._no_data_after = no_data_after
        self._window_cap = window_cap
        self._rules: dict[str, RuleSpec] = {}
        # Active rules only: metric -> service -> rule_id -> spec, and metric -> rule_id -> spec.
        self._specific: dict[str, dict[str, dict[str, RuleSpec]]] = {}
        self._wildcard: dict[str, dict[str, RuleSpec]] = {}
        # metric -> service -> series (nested, so the hot path builds no key tuples).
        self._series: dict[str, dict[str, Series]] = {}
        # metric -> service -> (selector, group) -> grouped series (labelled rules only)
        self._grouped: dict[str, dict[str, dict[tuple[Selector, Group], Series]]] = {}
        # Bumped on every rule change; series refresh their rule list lazily on next use.
        self._generation = 0
        # Grouped rule sets of this generation, by the ids they hold: every series matched
        # only by the same wildcard rules shares one.
        self._indexes: dict[tuple[str, ...], RuleIndex] = {}
        # Evaluations that raised since the last take_failures(): one pair's failure never
        # stops the others' evaluation.
        self._failures: list[PairFailure] = []
        self.skipped_samples = 0  # non-finite values, never put in a window
        # forecast bands of `anomalous` rules (forecast/anomaly.py); None: they never hold
        self.bands: BandSource | None = None

    # --- rules -----------------------------------------------------------------------------

    def upsert_rule(self, spec: RuleSpec) -> list[Pair]:
        """Add or replace a rule; effective from the next sample or tick.

        Returns the pairs whose state was dropped because the rule no longer applies to them
        (deactivated, other metric, other service): the I/O layer resolves their open alerts.
        A changed threshold or duration keeps running timers and open alerts.
        """
        old = self._rules.get(spec.rule_id)
        if old is not None:
            self._unindex(old)
        self._rules[spec.rule_id] = spec
        if spec.is_active:
            if spec.service_name is None:
                self._wildcard.setdefault(spec.metric, {})[spec.rule_id] = spec
            else:
                by_service = self._specific.setdefault(spec.metric, {})
                by_service.setdefault(spec.service_name, {})[spec.rule_id] = spec
        self._generation += 1
        self._indexes.clear()
        if old is None:
            return []
        return self._drop_states(old.rule_id, old.metric, keep=spec)

    def remove_rule(self, rule_id: str) -> list[Pair]:
        """Forget a rule; returns the pairs that had state (pending or firing)."""
        spec = self._rules.pop(rule_id, None)
        if spec is None:
            return []
        self._unindex(spec)
        self._generation += 1
        self._indexes.clear()
        return self._drop_states(rule_id, spec.metric, keep=None)

    def rules(self) -> list[RuleSpec]:
        """Every known rule, active or not, ordered by id."""
        return [self._rules[k] for k in sorted(self._rules)]

    def rule(self, rule_id: str) -> RuleSpec | None:
        """The rule with this id, active or not."""
        return self._rules.get(rule_id)

    def _unindex(self, spec: RuleSpec) -> None:
        if spec.service_name is None:
            self._wildcard.get(spec.metric, {}).pop(spec.rule_id, None)
        else:
            self._specific.get(spec.metric, {}).get(spec.service_name, {}).pop(spec.rule_id, None)

    def _drop_states(self, rule_id: str, metric: str, *, keep: RuleSpec | None) -> list[Pair]:
        dropped: list[Pair] = []
        for service, series in self._all_series(metric):
            if rule_id in series.states and (
                keep is None
                or not rule_matches(keep, service, metric)
                or keep.selector != series.selector
            ):
                del series.states[rule_id]
                dropped.append((rule_id, service, series.group))
        return sorted(dropped)

    def _metrics(self) -> list[str]:
        """Metrics with a plain or grouped series, in first-seen order."""
        return list(dict.fromkeys([*self._series, *self._grouped]))

    def _all_series(self, metric: str) -> list[tuple[str, Series]]:
        """Every plain and grouped series of a metric, with its service."""
        found = list(self._series.get(metric, {}).items())
        for service, grouped in self._grouped.get(metric, {}).items():
            found.extend((service, series) for series in grouped.values())
        return found

    def _series_for(self, service: str, metric: str) -> Series:
        services = self._series.setdefault(metric, {})
        series = services.get(service)
        if series is None:
            series = services[service] = Series(SlidingWindow(0.0, cap=self._window_cap))
        if series.generation != self._generation:
            self._refresh(series, service, metric)
        return series

    def _grouped_for(self, service: str, metric: str, selector: Selector, group: Group) -> Series:
        grouped = self._grouped.setdefault(metric, {}).setdefault(service, {})
        series = grouped.get((selector, group))
        if series is None:
            window = SlidingWindow(0.0, cap=self._window_cap)
            series = grouped[(selector, group)] = Series(window, selector, group)
        if series.generation != self._generation:
            self._refresh(series, service, metric)
        return series

    def _refresh(self, series: Series, service: str, metric: str) -> None:
        matching = self.matching(service, metric)
        ordered = [matching[k] for k in sorted(matching)]
        if not series.selector:  # the plain series: learn which labelled selectors apply
            series.selectors = tuple(dict.fromkeys(s.selector for s in ordered if s.selector))
        series.rules = tuple(s for s in ordered if s.selector == series.selector)
        key = tuple(s.rule_id for s in series.rules)
        series.window.horizon = max((s.window for s in series.rules), default=0.0)
        if series.histograms is not None:
            series.histograms.horizon = series.window.horizon
        index = self._indexes.get(key)
        if index is None:
            index = self._indexes[key] = index_rules(series.rules)
        series.groups, series.group_of = index
        series.generation = self._generation

    # --- samples ---------------------------------------------------------------------------

    def evaluate_sample(self, sample: Sample) -> list[AlertTransition]:
        """Store one sample in its window and evaluate the rules matching its series."""
        out: list[AlertTransition] = []
        self._ingest(sample, out)
        return out

    def evaluate_batch(self, samples: Iterable[Sample]) -> list[AlertTransition]:
        """Same result as ``evaluate_sample`` on each sample in (stable) timestamp order.

        Every sample is evaluated: skipping to the last one per series would lose pending
        starts, intermediate clears and value updates.
        """
        out: list[AlertTransition] = []
        ingest = self._ingest
        for sample in sorted(samples, key=_by_ts):
            ingest(sample, out)
        return out

    def load_samples(self, samples: Iterable[Sample]) -> None:
        """Rebuild windows from stored samples (at start) without evaluating anything."""
        ingest = self._ingest
        for sample in sorted(samples, key=_by_ts):
            ingest(sample, None)

    def take_failures(self) -> list[PairFailure]:
        """Pair evaluations that raised since the last call (for logs and telemetry)."""
        failures, self._failures = self._failures, []
        return failures

    def _ingest(self, sample: Sample, out: list[AlertTransition] | None) -> None:
        if not -_FLOAT_MAX <= sample.value <= _FLOAT_MAX:
            self.skipped_samples += 1  # NaN or infinite: ingestion rejects them; never stored
            return
        service = sample.service_name
        services = self._series.get(sample.metric_type)
        series = services.get(service) if services is not None else None
        if series is None or series.generation != self._generation:
            series = self._series_for(service, sample.metric_type)
        self._add(service, series, sample.ts, sample.value, sample.histogram, out)
        if series.selectors:  # labelled rules apply: the groups this sample joins
            labels = sample.labels or _NO_LABELS
            for selector in series.selectors:
                group = selector.group_of(labels)
                if group is not None:
                    grouped = self._grouped_for(service, sample.metric_type, selector, group)
                    self._add(service, grouped, sample.ts, sample.value, sample.histogram, out)

    def _add(
        self,
        service: str,
        series: Series,
        ts: float,
        value: float,
        histogram: Histogram | None,
        out: list[AlertTransition] | None,
    ) -> None:
        """Put one point (and its histogram, if any) in a series' window and evaluate its
        rules."""
        window = series.window
        newest = window.latest_ts
        late = newest is not None and ts < newest
        if late:
            assert newest is not None
            if ts <= newest - window.horizon:
                return  # outside every matching rule's window: it cannot move any state
            t = newest  # a late point joins the current window; time never goes back
        else:
            t = ts
        window.add(ts, value)
        if histogram is not None:
            if series.histograms is None:
                series.histograms = HistogramWindow(window.horizon, cap=self._window_cap)
            series.histograms.add(ts, histogram)
        if out is None:
            return
        self._evaluate(
            service,
            series,
            t,
            sample_ts=ts,
            last_value=None if late else value,
            late_ts=ts if late else None,
            out=out,
        )

    def _evaluate(
        self,
        service: str,
        series: Series,
        t: float,
        *,
        sample_ts: float | None,
        last_value: float | None,
        late_ts: float | None,
        out: list[AlertTransition],
    ) -> None:
        """Evaluate a series' rules at ``t``, visiting only pairs that can change: those whose
        condition holds (found per group by binary search) and those with a live state.

        ``last_value``: the sample just added when it is the newest point (``last`` needs no
        lookup). ``late_ts``: a late sample's time; groups whose window ends before it are
        skipped (that sample cannot move them).
        """
        states = series.states
        window = series.window
        values: dict[int, float | None] | None = {} if states else None
        hits: dict[str, tuple[RuleSpec, float]] | None = None
        excesses: dict[str, float | None] = {}  # anomalous rules: the value they judge
        for position, group in enumerate(series.groups):
            if late_ts is not None and late_ts <= t - group.window:
                continue
            try:
                if last_value is not None and group.aggregation == "last":
                    value: float | None = last_value
                elif series.histograms is None:
                    value = window.aggregate(group.aggregation, window=group.window, now=t)
                else:  # histogram samples: merged buckets (engine/histograms.py)
                    value = series_aggregate(
                        window, series.histograms, group.aggregation, span=group.window, now=t
                    )
            except Exception as exc:  # isolate the group's pairs; other groups still evaluate
                self._failures.extend(PairFailure(s.rule_id, service, exc) for s in group.specs)
                continue
            if values is not None:
                values[position] = value
            if group.anomalous and value is not None:
                for spec in group.anomalous:
                    over = self.anomaly_excess(spec, service, t, value)
                    excesses[spec.rule_id] = over
                    if over is not None and over > 0:
                        if hits is None:
                            hits = {}
                        hits[spec.rule_id] = (spec, over)
            if value is None or group.quiet_above <= value <= group.quiet_below:
                continue  # the common case: no condition holds in this group
            for spec in group.holding(value):
                if hits is None:
                    hits = {}
                hits[spec.rule_id] = (spec, value)
        if values is not None:
            group_of = series.group_of
            for rule_id in states:
                if self._rules[rule_id].anomaly is not None:
                    value = excesses.get(rule_id)
                else:
                    value = values.get(group_of.get(rule_id, -1))
                if value is not None and (hits is None or rule_id not in hits):
                    if hits is None:
                        hits = {}
                    hits[rule_id] = (self._rules[rule_id], value)
        if hits is None:
            return
        for rule_id in sorted(hits) if len(hits) > 1 else hits:
            spec, value = hits[rule_id]
            try:
                self._apply(spec, service, series, value, t, sample_ts, out)
            except Exception as exc:  # isolate the pair; the other rules still evaluate
                self._failures.append(PairFailure(rule_id, service, exc))

    def anomaly_excess(self, spec: RuleSpec, service: str, t: float, value: float) -> float | None:
        """An anomalous rule's value: the aggregate's excess over its band at `t` (None while
        the band is learning or out of date: the pair is not evaluated)."""
        if self.bands is None or spec.anomaly is None:
            return None
        band = self.bands.band(spec.rule_id, service, t)
        if band is None:
            return None
        return excess(spec.anomaly.direction, value, band[0], band[1])

    def _apply(
        self,
        spec: RuleSpec,
        service: str,
        series: Series,
        value: float | None,
        at: float,
        sample_ts: float | None,
        out: list[AlertTransition],
    ) -> None:
        states = series.states
        state = states.get(spec.rule_id)
        if state is None:
            # Inactive and still false: the common case, decided without allocating.
            if value is None or not condition_holds(spec.operator, value, spec.threshold):
                return
            state = states[spec.rule_id] = RuleState()
        transition = evaluate(
            spec, state, service_name=service, value=value, at=at, sample_ts=sample_ts
        )
        if state.phase is Phase.INACTIVE:
            del states[spec.rule_id]
        if transition is not None:
            out.append(replace(transition, group=series.group) if series.group else transition)

    def preview(
        self, sample: Sample
    ) -> list[tuple[RuleSpec, float | None, AlertTransition | None]]:
        """What evaluating `sample` would do to each matching rule, changing nothing."""
        return preview_sample(self, sample, window_cap=self._window_cap)

    def matching(self, service: str, metric: str) -> dict[str, RuleSpec]:
        """The active rules that apply to (service, metric), by id, whatever their labels."""
        found = dict(self._wildcard.get(metric, {}))
        found.update(self._specific.get(metric, {}).get(service, {}))
        return found

    def series(self, service: str, metric: str) -> Series | None:
        """A series' window and states, if it exists (read-only use: previews, tests)."""
        return self._series.get(metric, {}).get(service)

    def report_failure(self, failure: PairFailure) -> None:
        self._failures.append(failure)

    def forget_services(self, keep: Callable[[str], bool]) -> None:
        """Drop the windows and states of every service `keep` refuses (a shard handed to
        another replica: its states are in the database, committed with each step)."""
        for tables in (self._series, self._grouped):
            for services in tables.values():
                for service in [s for s in services if not keep(s)]:
                    del services[service]

    # --- time ------------------------------------------------------------------------------

    def tick(self, now: float) -> list[AlertTransition]:
        """Re-evaluate every pair with a window or a state at ``now``.

        Completes durations and keepFiringFor without new samples, and applies no-data when a
        series' newest sample is more than ``no_data_after`` seconds older than ``now``.
        """
        out: list[AlertTransition] = []
        no_data_after = self._no_data_after
        for metric in self._metrics():
            for service, series in self._all_series(metric):
                if series.generation != self._generation:
                    self._refresh(series, service, metric)
                latest = series.window.latest_ts
                if latest is None or now - latest > no_data_after:
                    self._no_data(service, series, now, out)
                    if series.selector and not series.states:  # a group gone quiet: forget it
                        del self._grouped[metric][service][(series.selector, series.group)]
                    continue
                if series.selector and not series.rules and not series.states:
                    del self._grouped[metric][service][(series.selector, series.group)]
                    continue  # its rules changed or went: nothing reads this group
                # Samples may carry timestamps slightly ahead of the server clock; evaluating
                # before them would move the pair's time backwards.
                t = now if now > latest else latest
                self._evaluate(
                    service, series, t, sample_ts=None, last_value=None, late_ts=None, out=out
                )
        return out

    def _no_data(
        self, service: str, series: Series, now: float, out: list[AlertTransition]
    ) -> None:
        states = series.states
        if not states:
            return
        for rule_id, state in list(states.items()):
            try:
                transition = mark_no_data(self._rules[rule_id], state, service_name=service, at=now)
            except Exception as exc:  # isolate the pair, as in _ingest
                self._failures.append(PairFailure(rule_id, service, exc))
                continue
            if state.phase is Phase.INACTIVE:
                del states[rule_id]
            if transition is not None:
                out.append(replace(transition, group=series.group) if series.group else transition)

    # --- operator actions and persistence --------------------------------------------------

    def _pair_series(self, rule_id: str, service: str, group: Group) -> Series | None:
        """The series holding a pair's state, if it exists."""
        spec = self._rules.get(rule_id)
        if spec is None:
            return None
        if not spec.selector:
            return None if group else self._series.get(spec.metric, {}).get(service)
        grouped = self._grouped.get(spec.metric, {}).get(service, {})
        return grouped.get((spec.selector, group))

    def state_of(self, rule_id: str, service: str, group: Group = NO_GROUP) -> RuleState | None:
        """The live state of a pair; None means inactive."""
        series = self._pair_series(rule_id, service, group)
        return None if series is None else series.states.get(rule_id)

    def acknowledge(self, rule_id: str, service: str, group: Group = NO_GROUP) -> bool:
        """Acknowledge a firing pair (mutes repeats, not resolution). False if not firing."""
        state = self.state_of(rule_id, service, group)
        return state is not None and acknowledge(state)

    def manual_resolve(self, rule_id: str, service: str, group: Group = NO_GROUP) -> bool:
        """Operator resolve: the pair goes inactive. False if it was already inactive."""
        series = self._pair_series(rule_id, service, group)
        state = None if series is None else series.states.pop(rule_id, None)
        if state is None:
            return False
        manual_resolve(state)
        return True

    def restore(
        self, rule_id: str, service: str, state: Mapping[str, object], group: Group = NO_GROUP
    ) -> bool:
        """Reinstate a persisted state (call after ``upsert_rule``; order vs samples is free).

        Returns False, restoring nothing, when the rule is unknown or no longer applies to the
        service or group: the I/O layer should then resolve that pair's open alert.
        """
        spec = self._rules.get(rule_id)
        if spec is None or not rule_matches(spec, service, spec.metric):
            return False
        if not spec.selector:
            if group:
                return False
            series = self._series_for(service, spec.metric)
        else:
            if any(name not in spec.selector.group_by for name, _ in group):
                return False
            series = self._grouped_for(service, spec.metric, spec.selector, group)
        restored = RuleState.from_dict(state)
        if restored.phase is Phase.INACTIVE:
            series.states.pop(rule_id, None)
        else:
            series.states[rule_id] = restored
        return True

    def export_states(self) -> dict[Pair, dict[str, str | float | bool | None]]:
        """Every pending or firing state as a JSON-safe dict; absent pairs are inactive."""
        return {
            (rule_id, service, series.group): state.to_dict()
            for metric in self._metrics()
            for service, series in self._all_series(metric)
            for rule_id, state in series.states.items()
        }

    def services(self, metric: str) -> list[str]:
        """Services with a plain series of `metric`."""
        return list(self._series.get(metric, {}))

    def latest(self, service: str, metric: str) -> tuple[float, float] | None:
        """(ts, value) of the newest sample of a series, None if never seen."""
        series = self._series.get(metric, {}).get(service)
        if series is None:
            return None
        ts, value = series.window.latest_ts, series.window.latest_value
        return None if ts is None or value is None else (ts, value)
