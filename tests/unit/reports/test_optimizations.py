"""The report's per-type tally: every executed action counted once, overlap groups credited
once, capacity saved counted as its own success (reports/optimizations.py)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from perfpilot.reports.optimizations import optimizations, tally
from perfpilot.reports.repository import ActionGroup


def group(
    outcome: str | None,
    count: int = 1,
    *,
    impacts: tuple[float, ...] = (),
    credited: bool = True,
    kind: str = "scale_up",
    status: str = "executed",
) -> ActionGroup:
    return ActionGroup(
        kind, "latency", status, outcome, count, sum(impacts), len(impacts), credited
    )


def test_two_overlapping_improvements_are_credited_once() -> None:
    # both actions measured +40 % over the same window; only the first is credited
    groups = [
        group("improved", impacts=(0.4,)),
        group("improved", impacts=(0.4,), credited=False),
    ]
    [out] = optimizations(groups)
    assert (out.executed, out.improved, out.overlapped, out.measured) == (2, 1, 1, 1)
    assert out.impact == pytest.approx(0.4)
    assert "1 overlapped an earlier action's measurement window" in out.description


def test_an_overlapped_action_of_another_type_is_not_counted_by_its_outcome() -> None:
    groups = [
        group("improved", impacts=(0.5,), kind="scale_up"),
        group("improved", impacts=(0.5,), kind="model_switch", credited=False),
    ]
    by_type = {o.type: o for o in optimizations(groups)}
    assert (by_type["scale_up"].improved, by_type["scale_up"].impact) == (1, 0.5)
    switch = by_type["model_switch"]
    assert (switch.executed, switch.improved, switch.overlapped) == (1, 0, 1)
    assert (switch.measured, switch.impact) == (0, None)


def test_capacity_saved_is_a_success_of_its_own_and_not_averaged() -> None:
    groups = [
        group("capacity_saved", 3, kind="scale_down"),
        group("worsened", 1, kind="scale_down"),
    ]
    [out] = optimizations(groups)
    assert (out.capacity_saved, out.worsened, out.improved, out.measured) == (3, 1, 0, 0)
    assert out.impact is None
    assert "3 saved capacity within their guard" in out.description
    assert out.recommendation is None  # no directional impact to judge the type by


outcomes = st.sampled_from(
    ["improved", "worsened", "no_change", "capacity_saved", "unmeasured", None]
)


@given(
    st.lists(
        st.tuples(outcomes, st.integers(1, 5), st.booleans(), st.sampled_from(["a", "b"])),
        max_size=12,
    )
)
def test_every_executed_action_is_in_exactly_one_bucket(
    rows: list[tuple[str | None, int, bool, str]],
) -> None:
    groups = [group(o, n, credited=c, kind=k) for o, n, c, k in rows]
    for kind, t in tally(groups).items():
        buckets = (
            t.improved + t.worsened + t.no_change + t.capacity_saved + t.unmeasured
            + t.pending + t.overlapped
        )  # fmt: skip
        assert buckets == t.executed == sum(n for _, n, _, k in rows if k == kind)
        assert t.overlapped == sum(n for _, n, c, k in rows if k == kind and not c)


def test_skips_and_dry_runs_are_not_executed_or_measured() -> None:
    groups = [group("unmeasured", 2, status="skipped"), group("unmeasured", 1, status="dry_run")]
    [out] = optimizations(groups)
    assert (out.executed, out.skipped, out.dry_run, out.unmeasured) == (0, 2, 1, 0)
