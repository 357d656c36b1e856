"""Request and response shapes of /targets. Headers go in, never out (only their names)."""

from __future__ import annotations

import re
import uuid
from datetime import datetime
from typing import Annotated, Literal
from urllib.parse import urlsplit

from pydantic import Field, field_validator, model_validator

from perfpilot.collection.mapping import Kind
from perfpilot.collection.samples import LabelError, check_labels
from perfpilot.core.schemas import CamelModel
from perfpilot.metrics.schemas import ServiceName

PresetName = Literal["vllm", "tgi", "triton", "litellm", "prometheus"]
MAX_URL_LENGTH = 2000
MAX_HEADERS = 16
MIN_INTERVAL = 5.0
_HEADER_NAME = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]{1,100}")
# set by the scraper itself: a target may not change how its body is framed or decoded
_RESERVED_HEADERS = frozenset({"host", "content-length", "transfer-encoding", "accept-encoding"})


def _check_url(url: str) -> str:
    url = url.strip()
    parts = urlsplit(url)
    if parts.scheme.lower() not in ("http", "https"):
        raise ValueError("must be an http or https URL")
    if not parts.hostname:
        raise ValueError("must name a host")
    if any(ch.isspace() for ch in url):
        raise ValueError("must not contain whitespace")
    try:
        _ = parts.port
    except ValueError as exc:
        raise ValueError("has an invalid port") from exc
    return url


class MappingRule(CamelModel):
    """How one metric of a `prometheus` target becomes a registry type."""

    type: str = Field(min_length=1, max_length=64, examples=["latency"])
    kind: Kind = Field(examples=["histogram"])
    unit: str | None = Field(default=None, max_length=16, examples=["s"])
    denominator: list[str] = Field(default_factory=list, max_length=8)


class TargetIn(CamelModel):
    url: str = Field(max_length=MAX_URL_LENGTH, examples=["http://10.0.0.12:8000/metrics"])
    service_name: ServiceName
    preset: PresetName = Field(examples=["vllm"])
    mapping: dict[str, MappingRule] = Field(
        default_factory=dict,
        max_length=500,
        description="Only with preset `prometheus` (and required there): metric name -> rule",
    )
    interval: float = Field(default=30.0, ge=MIN_INTERVAL, le=86_400, description="seconds")
    timeout: float = Field(default=10.0, gt=0, le=300, description="seconds, <= interval")
    labels: dict[str, str] = Field(
        default_factory=dict, description="Added to every sample of the target"
    )
    headers: dict[str, Annotated[str, Field(max_length=4096)]] | None = Field(
        default=None,
        description="Sent with each scrape (e.g. Authorization); write-only, never returned. "
        "On update, omitted = keep the stored ones.",
    )
    is_active: bool = True

    _url = field_validator("url")(_check_url)

    @field_validator("labels")
    @classmethod
    def _labels_valid(cls, labels: dict[str, str]) -> dict[str, str]:
        try:
            check_labels(labels)
        except LabelError as exc:
            raise ValueError(str(exc)) from None
        return labels

    @field_validator("headers")
    @classmethod
    def _headers_valid(cls, headers: dict[str, str] | None) -> dict[str, str] | None:
        if headers is None:
            return None
        if len(headers) > MAX_HEADERS:
            raise ValueError(f"at most {MAX_HEADERS} headers")
        for name, value in headers.items():
            if not _HEADER_NAME.fullmatch(name) or name.lower() in _RESERVED_HEADERS:
                raise ValueError(f"header name {name[:100]!r} is not allowed")
            if any(ch in value for ch in "\r\n\x00"):
                raise ValueError(f"header {name!r}: value must not contain CR, LF or NUL")
        return headers

    @model_validator(mode="after")
    def _consistent(self) -> TargetIn:
        if self.timeout > self.interval:
            raise ValueError("timeout must not exceed interval")
        if (self.preset == "prometheus") != bool(self.mapping):
            raise ValueError("mapping is required with preset prometheus, and only with it")
        return self


class TargetUpdate(CamelModel):
    """Partial update: absent fields keep their value; the result is validated as a whole."""

    url: str | None = Field(default=None, max_length=MAX_URL_LENGTH)
    service_name: ServiceName | None = None
    preset: PresetName | None = None
    mapping: dict[str, MappingRule] | None = None
    interval: float | None = None
    timeout: float | None = None
    labels: dict[str, str] | None = None
    headers: dict[str, Annotated[str, Field(max_length=4096)]] | None = None
    is_active: bool | None = None

    @field_validator("*")
    @classmethod
    def _not_null(cls, value: object) -> object:
        # only runs for fields the client sent: null there is a mistake, not "keep"
        if value is None:
            raise ValueError("must not be null; omit the field to keep its value")
        return value


class TargetHealth(CamelModel):
    up: bool | None = Field(description="null until the first scrape")
    last_scrape_at: datetime | None
    last_duration_ms: float | None
    samples: int = Field(description="samples stored from the last scrape")
    series: int = Field(description="series in the last scrape's body")
    last_error: str | None


class TargetOut(CamelModel):
    id: uuid.UUID
    url: str
    service_name: str
    preset: str
    mapping: dict[str, MappingRule]
    interval: float
    timeout: float
    labels: dict[str, str]
    header_names: list[str] = Field(description="names of the stored headers; values are hidden")
    is_active: bool
    created_at: datetime
    updated_at: datetime
    health: TargetHealth
