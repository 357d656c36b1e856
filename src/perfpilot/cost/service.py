"""Cost by model over a period: the reported cost, else token counts x the price table."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from perfpilot.cost import repository
from perfpilot.cost.prices import price_table
from perfpilot.cost.schemas import ModelCost, PriceOut


def priced(price: PriceOut, input_tokens: float, output_tokens: float) -> float:
    """USD for these tokens at this price."""
    return (input_tokens * price.input_per_m_tok + output_tokens * price.output_per_m_tok) / 1e6


async def _requests(
    session: AsyncSession, by_type: dict[str, list[int]], start: datetime, end: datetime
) -> tuple[float | None, str | None]:
    """Requests served: throughput (rps) integrated over its sample spacing, else the number
    of latency samples."""
    if "throughput" in by_type:
        t = await repository.type_stats(session, by_type["throughput"], start, end)
        if t.count >= 2 and t.first is not None and t.last is not None:
            spacing = (t.last - t.first).total_seconds() / (t.count - 1)
            return t.total * spacing, "throughput x sample spacing"
    if "latency" in by_type:
        latency = await repository.type_stats(session, by_type["latency"], start, end)
        if latency.count:
            return float(latency.count), "latency samples"
    return None, None


async def cost_by_model(
    session: AsyncSession, service_name: str, start: datetime, end: datetime
) -> list[ModelCost]:
    """One entry per model label of the service with tokens, cost or requests in the period."""
    prices = await price_table(session)
    out = []
    for model, by_type in sorted((await repository.model_series(session, service_name)).items()):
        tokens = {}
        for kind in ("input_tokens", "output_tokens"):
            stats = await repository.type_stats(session, by_type.get(kind, []), start, end)
            tokens[kind] = stats.total
        reported = await repository.type_stats(session, by_type.get("cost", []), start, end)
        requests, requests_basis = await _requests(session, by_type, start, end)
        price = prices.get(model)
        cost: float | None = None
        basis = None
        if reported.count:
            cost, basis = reported.total, "reported"
        elif price is not None and (tokens["input_tokens"] or tokens["output_tokens"]):
            cost, basis = (
                priced(price, tokens["input_tokens"], tokens["output_tokens"]),
                ("price_table"),
            )
        if cost is None and not requests and not any(tokens.values()):
            continue
        all_tokens = tokens["input_tokens"] + tokens["output_tokens"]
        out.append(
            ModelCost(
                model=model,
                requests=requests,
                requests_basis=requests_basis,
                input_tokens=tokens["input_tokens"],
                output_tokens=tokens["output_tokens"],
                cost=cost,
                cost_basis=basis,
                price=price,
                cost_per_request=cost / requests if cost is not None and requests else None,
                cost_per_1k_tokens=cost / all_tokens * 1000
                if cost is not None and all_tokens
                else None,
            )
        )
    return out
