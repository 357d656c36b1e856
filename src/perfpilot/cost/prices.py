"""The price table: the shipped defaults (a data file with its date and source) under the
operators' entries (ai_model_prices)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from functools import cache
from importlib import resources
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from perfpilot.core.errors import NotFound
from perfpilot.cost import repository
from perfpilot.cost.schemas import PriceIn, PriceOut
from perfpilot.models import ModelPrice


@cache
def default_table() -> dict[str, Any]:
    text = resources.files("perfpilot.cost").joinpath("default_prices.json").read_text()
    data: dict[str, Any] = json.loads(text)
    return data


def _defaults() -> dict[str, PriceOut]:
    table = default_table()
    valid_from = datetime.fromisoformat(table["date"]).replace(tzinfo=UTC)
    return {
        p["model"]: PriceOut(
            model=p["model"],
            input_per_m_tok=p["inputPerMTok"],
            output_per_m_tok=p["outputPerMTok"],
            currency="USD",
            valid_from=valid_from,
            source=f"{table['source']} (table of {table['date']})",
            origin="default",
        )
        for p in table["prices"]
    }


def _out(row: ModelPrice) -> PriceOut:
    return PriceOut(
        model=row.model,
        input_per_m_tok=row.input_per_mtok,
        output_per_m_tok=row.output_per_mtok,
        currency=row.currency,
        valid_from=row.valid_from,
        source=row.source,
        origin="admin",
    )


async def price_table(session: AsyncSession) -> dict[str, PriceOut]:
    """Every priced model: an operator's entry wins over the default."""
    table = _defaults()
    table.update({row.model: _out(row) for row in await repository.all_prices(session)})
    return dict(sorted(table.items()))


async def get_price(session: AsyncSession, model: str) -> PriceOut:
    price = (await price_table(session)).get(model)
    if price is None:
        raise NotFound(f"No price for model {model!r}")
    return price


async def put_price(session: AsyncSession, body: PriceIn) -> PriceOut:
    now = datetime.now(UTC)
    row = ModelPrice(
        model=body.model,
        input_per_mtok=body.input_per_m_tok,
        output_per_mtok=body.output_per_m_tok,
        currency=body.currency,
        valid_from=body.valid_from or now,
        source=body.source,
        updated_at=now,
    )
    return _out(await repository.save_price(session, row))


async def delete_price(session: AsyncSession, model: str) -> PriceOut:
    """Remove an operator's entry; the default (if any) applies again. 404 if none."""
    row = await repository.get_price(session, model)
    if row is None:
        raise NotFound(f"No operator price for model {model!r}")
    out = _out(row)
    await repository.delete_price(session, row)
    return out
