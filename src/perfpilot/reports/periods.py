"""Which period a report covers: DESIGN's defaults, and the checks on a requested period."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from perfpilot.core.errors import InvalidField

DEFAULT_LENGTHS: dict[str, timedelta] = {
    "daily": timedelta(days=1),
    "weekly": timedelta(days=7),
    "monthly": timedelta(days=30),
}
# a requested period must fit its type; a calendar month is 28 to 31 days
ALLOWED_LENGTHS: dict[str, tuple[timedelta, timedelta]] = {
    "daily": (timedelta(days=1), timedelta(days=1)),
    "weekly": (timedelta(days=7), timedelta(days=7)),
    "monthly": (timedelta(days=28), timedelta(days=31)),
}
MAX_PERIOD = timedelta(days=366)


def _invalid(field: str, message: str) -> InvalidField:
    return InvalidField(
        f"Invalid request: {field}",
        details=[{"field": field, "message": message, "type": "value_error", "in": "body"}],
    )


def as_utc(value: datetime) -> datetime:
    """Aware UTC; a naive time is taken as UTC (as everywhere in the API)."""
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def resolve_period(
    report_type: str, period: tuple[datetime, datetime] | None, *, now: datetime
) -> tuple[datetime, datetime]:
    """[start, end) of the report; 422 naming the field when the period does not fit."""
    if period is None:
        if report_type == "custom":
            raise _invalid("period", "a custom report needs a period {start, end}")
        return now - DEFAULT_LENGTHS[report_type], now
    start, end = as_utc(period[0]), as_utc(period[1])
    if end <= start:
        raise _invalid("period.end", "end must be after start")
    length = end - start
    if length > MAX_PERIOD:
        raise _invalid("period", f"a period covers at most {MAX_PERIOD.days} days")
    bounds = ALLOWED_LENGTHS.get(report_type)
    if bounds is not None and not bounds[0] <= length <= bounds[1]:
        days = (
            f"{bounds[0].days}" if bounds[0] == bounds[1] else f"{bounds[0].days}-{bounds[1].days}"
        )
        raise _invalid(
            "period",
            f"a {report_type} report covers {days} days; use reportType custom for other periods",
        )
    return start, end


def seconds_between(start: datetime, end: datetime) -> float:
    """Exact to the microsecond (timedelta division is correctly rounded)."""
    return (end - start) / timedelta(seconds=1)
