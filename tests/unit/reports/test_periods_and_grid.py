"""Report periods (defaults, validation) and the time grids built over them."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from perfpilot.core.errors import InvalidField
from perfpilot.reports.periods import resolve_period, seconds_between
from perfpilot.reports.timegrid import minute_grid, timeline_bounds

NOW = datetime(2026, 3, 10, 12, 34, 56, 789000, tzinfo=UTC)


@pytest.mark.parametrize(("kind", "days"), [("daily", 1), ("weekly", 7), ("monthly", 30)])
def test_defaults_end_now(kind: str, days: int) -> None:
    assert resolve_period(kind, None, now=NOW) == (NOW - timedelta(days=days), NOW)


def field_of(error: InvalidField) -> str:
    return str(error.details[0]["field"])


@pytest.mark.parametrize(
    ("kind", "period", "field"),
    [
        ("custom", None, "period"),
        ("custom", (NOW, NOW), "period.end"),
        ("custom", (NOW, NOW - timedelta(microseconds=1)), "period.end"),
        ("custom", (NOW - timedelta(days=366, seconds=1), NOW), "period"),
        ("daily", (NOW - timedelta(days=2), NOW), "period"),
        ("weekly", (NOW - timedelta(days=6), NOW), "period"),
        ("monthly", (NOW - timedelta(days=27), NOW), "period"),
        ("monthly", (NOW - timedelta(days=32), NOW), "period"),
    ],
)
def test_invalid_periods_name_their_field(
    kind: str, period: tuple[datetime, datetime] | None, field: str
) -> None:
    with pytest.raises(InvalidField) as caught:
        resolve_period(kind, period, now=NOW)
    assert field_of(caught.value) == field


def test_valid_periods_are_kept_in_utc() -> None:
    plus_two = timezone(timedelta(hours=2))
    start = datetime(2026, 2, 1, 2, 0, tzinfo=plus_two)
    assert resolve_period("monthly", (start, start + timedelta(days=28)), now=NOW) == (
        datetime(2026, 2, 1, tzinfo=UTC),
        datetime(2026, 3, 1, tzinfo=UTC),
    )
    naive = datetime(2026, 1, 1)
    assert resolve_period("custom", (naive, naive + timedelta(days=366)), now=NOW)[0] == (
        naive.replace(tzinfo=UTC)
    )


def test_minute_grid_clips_first_and_last_minute() -> None:
    start = datetime(2026, 1, 1, 0, 0, 20, tzinfo=UTC)
    grid = minute_grid(start, start + timedelta(seconds=3610))
    assert grid.origin == datetime(2026, 1, 1, tzinfo=UTC)
    assert (grid.minutes, grid.first_weight, grid.last_weight) == (61, 40.0, 30.0)
    aligned = minute_grid(grid.origin, grid.origin + timedelta(hours=1))
    assert (aligned.minutes, aligned.first_weight, aligned.last_weight) == (60, 60.0, 60.0)
    inside = minute_grid(start, start + timedelta(seconds=5.5))
    assert (inside.minutes, inside.first_weight, inside.last_weight) == (1, 5.5, 5.5)


@given(
    st.datetimes(min_value=datetime(2020, 1, 1), max_value=datetime(2030, 1, 1)),
    st.integers(1, 366 * 86400 * 1000),
)
def test_minute_weights_add_up_to_the_period(start: datetime, millis: int) -> None:
    start = start.replace(tzinfo=UTC)
    end = start + timedelta(milliseconds=millis)
    grid = minute_grid(start, end)
    inner = max(0, grid.minutes - 2) * 60.0
    total = grid.first_weight + (grid.last_weight if grid.minutes > 1 else 0) + inner
    assert total == pytest.approx(seconds_between(start, end), abs=1e-6)
    assert 0 < grid.first_weight <= 60 and 0 < grid.last_weight <= 60


@given(
    st.datetimes(min_value=datetime(2020, 1, 1), max_value=datetime(2030, 1, 1)),
    st.integers(1, 366 * 86400),
)
def test_timeline_buckets_cover_the_period(start: datetime, seconds: int) -> None:
    start = start.replace(tzinfo=UTC)
    end = start + timedelta(seconds=seconds)
    bounds = timeline_bounds(start, end)
    assert bounds[0] == start and bounds[-1] == end
    assert all(a < b for a, b in itertools.pairwise(bounds))
    assert 1 <= len(bounds) - 1 <= 120
    assert len(bounds) - 1 == 1 or (bounds[1] - bounds[0]) >= timedelta(seconds=60)
