"""/prices: the model price table (viewer reads; admin sets and removes entries)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path

from perfpilot.core.deps import AdminAuth, SessionDep, ViewerAuth
from perfpilot.core.schemas import Envelope, ErrorEnvelope, ListEnvelope
from perfpilot.cost import prices
from perfpilot.cost.prices import default_table
from perfpilot.cost.schemas import PriceIn, PriceOut

router = APIRouter(prefix="/prices", tags=["cost"])

ModelPath = Annotated[
    str, Path(min_length=1, max_length=200, pattern=r"^[^\x00]+$", description="A model name")
]


@router.get(
    "",
    response_model=ListEnvelope[PriceOut],
    summary="List model prices",
    description="USD per 1M input and output tokens. Entries set by an admin (origin admin) "
    "override the shipped default table (origin default), whose date and source each "
    "default entry states. Cost of samples with tokens but no cost = tokens x price.",
)
async def list_prices(session: SessionDep, _: ViewerAuth) -> ListEnvelope[PriceOut]:
    table = list((await prices.price_table(session)).values())
    table_info = default_table()
    return ListEnvelope(
        data=table,
        count=len(table),
        message=f"Prices retrieved (default table of {table_info['date']})",
    )


@router.get(
    "/{model}",
    response_model=Envelope[PriceOut],
    summary="Get one model's price",
    responses={404: {"model": ErrorEnvelope, "description": "No price for the model"}},
)
async def get_price(model: ModelPath, session: SessionDep, _: ViewerAuth) -> Envelope[PriceOut]:
    return Envelope(data=await prices.get_price(session, model), message="Price retrieved")


@router.put(
    "",
    response_model=Envelope[PriceOut],
    summary="Set (replace) one model's price",
    description="Creates or replaces the operator's entry for `model`; it overrides a default.",
)
async def put_price(body: PriceIn, session: SessionDep, _: AdminAuth) -> Envelope[PriceOut]:
    return Envelope(data=await prices.put_price(session, body), message="Price set")


@router.delete(
    "/{model}",
    response_model=Envelope[PriceOut],
    summary="Remove an operator's price (the default, if any, applies again)",
    responses={404: {"model": ErrorEnvelope, "description": "No operator price"}},
)
async def delete_price(model: ModelPath, session: SessionDep, _: AdminAuth) -> Envelope[PriceOut]:
    return Envelope(data=await prices.delete_price(session, model), message="Price removed")
