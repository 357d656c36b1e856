"""API schema base classes: camelCase JSON and the response envelopes."""

from __future__ import annotations

from typing import Generic, TypeVar

from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

T = TypeVar("T")


class CamelModel(BaseModel):
    """Python snake_case attributes, camelCase on the wire; unknown fields are rejected."""

    model_config = ConfigDict(
        alias_generator=to_camel, populate_by_name=True, extra="forbid", from_attributes=True
    )


class Envelope(BaseModel, Generic[T]):
    """`{"success": true, "data": ..., "message": "..."}`."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True)

    success: bool = True
    data: T
    message: str = ""


class ListEnvelope(BaseModel, Generic[T]):
    """A list response: data, count and, where paged, the cursor of the next page."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True)

    success: bool = True
    data: list[T]
    count: int
    next_cursor: str | None = Field(default=None)
    message: str = ""


class ErrorDetail(BaseModel):
    field: str
    message: str
    type: str
    index: int | None = None


class ErrorInfo(BaseModel):
    code: str
    message: str
    details: list[ErrorDetail] = []


class ErrorEnvelope(BaseModel):
    success: bool = False
    error: ErrorInfo
