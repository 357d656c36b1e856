"""GET /trends: trend, seasonality, change points, forecast and the fit's error (DESIGN §14)."""

from __future__ import annotations

from datetime import datetime

from pydantic import Field

from perfpilot.core.schemas import CamelModel


class TrendOut(CamelModel):
    per_day: float = Field(description="Change of the deseasonalised series per day (OLS slope)")
    interval95: tuple[float, float] = Field(
        description="95 % interval of perDay (Newey-West/HAC standard errors)"
    )
    significant: bool = Field(description="true when interval95 excludes 0")


class SeasonOut(CamelModel):
    period_seconds: float
    strength: float = Field(
        description="STL seasonal strength 0..1: 1 - var(rest)/var(season+rest)"
    )
    autocorrelation: float = Field(description="Autocorrelation of the series at this lag")
    kind: str = Field(description="daily, weekly, or cycle (another period found in the data)")


class ChangePointOut(CamelModel):
    t: datetime = Field(description="Start of the first bucket of the new level")
    before: float = Field(description="Mean (deseasonalised) level of the segment before")
    after: float = Field(description="Mean (deseasonalised) level of the segment after")


class ForecastPoint(CamelModel):
    t: datetime
    mean: float
    lo80: float
    hi80: float
    lo95: float
    hi95: float


class ForecastOut(CamelModel):
    horizon_seconds: float
    points: list[ForecastPoint]


class FitOut(CamelModel):
    model: str = Field(description="The model fitted, e.g. STL(period=84 buckets) + ETS(A,N,N)")
    basis: str = Field(description="What the fit rests on: buckets, their width, the period")
    samples: int = Field(description="Filled buckets the fit used")
    gaps: int = Field(description="Empty buckets inside the history, interpolated")
    holdout_points: int | None = Field(description="Buckets held out to measure the error")
    holdout_mape: float | None = Field(
        description="Mean absolute percentage error on the held-out tail, as a ratio "
        "(null: not enough history to hold out, or every held-out value is 0)"
    )
    holdout_mae: float | None
    holdout_coverage80: float | None = Field(
        description="Share of held-out buckets inside the 80 % interval"
    )
    holdout_coverage95: float | None


class TrendsOut(CamelModel):
    service_name: str
    metric_type: str
    labels: dict[str, str]
    since: datetime
    until: datetime
    step_seconds: float
    trend: TrendOut
    seasonality: list[SeasonOut]
    change_points: list[ChangePointOut]
    forecast: ForecastOut
    fit: FitOut
