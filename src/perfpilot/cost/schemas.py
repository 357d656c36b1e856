from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import AwareDatetime, Field

from perfpilot.core.schemas import CamelModel

CostBasis = Literal["reported", "price_table"]


class PriceIn(CamelModel):
    model: str = Field(min_length=1, max_length=200, pattern=r"^[^\x00]+$")
    input_per_m_tok: float = Field(ge=0, le=1_000_000, allow_inf_nan=False, description="USD / 1M")
    output_per_m_tok: float = Field(ge=0, le=1_000_000, allow_inf_nan=False, description="USD / 1M")
    currency: Literal["USD"] = "USD"
    valid_from: AwareDatetime | None = Field(
        default=None, description="With a timezone; default: now"
    )
    source: str | None = Field(default=None, max_length=500)


class PriceOut(CamelModel):
    model: str
    input_per_m_tok: float
    output_per_m_tok: float
    currency: str
    valid_from: datetime
    source: str | None
    origin: Literal["default", "admin"] = Field(
        description="default: the shipped table (see its date and source); admin: set by PUT"
    )


class ModelCost(CamelModel):
    """One model's cost over a period (the samples labelled model=<name>)."""

    model: str
    requests: float | None = Field(description="See requestsBasis")
    requests_basis: str | None
    input_tokens: float
    output_tokens: float
    cost: float | None = Field(description="USD; null when neither reported nor priced")
    cost_basis: CostBasis | None = Field(
        description="reported: the sum of the cost samples; price_table: tokens x the price"
    )
    price: PriceOut | None
    cost_per_request: float | None
    cost_per_1k_tokens: float | None = Field(alias="costPer1kTokens")
