"""Request and response shapes of the webhook endpoints. Secrets go in, never out (but once)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any, Literal, get_args
from urllib.parse import urlsplit

from pydantic import ConfigDict, Field, field_validator

from perfpilot.core.schemas import CamelModel
from perfpilot.metrics.labels import LabelName
from perfpilot.metrics.schemas import ServiceName

WebhookEvent = Literal[
    "alert.fired", "alert.acknowledged", "alert.resolved", "action.executed", "state.changed"
]
KNOWN_EVENTS: tuple[str, ...] = get_args(WebhookEvent)
TEST_EVENT = "webhook.test"
DeliveryStatus = Literal["pending", "delivered", "dead"]

MAX_URL_LENGTH = 2000
SigningSecret = Annotated[
    str,
    Field(
        min_length=16,
        max_length=200,
        description="HMAC-SHA256 signing key; write-only (generated when absent on create)",
    ),
]


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
        _ = parts.port  # a malformed port raises here
    except ValueError as exc:
        raise ValueError("has an invalid port") from exc
    return url


def _unique(events: list[WebhookEvent]) -> list[WebhookEvent]:
    return list(dict.fromkeys(events))


class WebhookIn(CamelModel):
    url: str = Field(max_length=MAX_URL_LENGTH, examples=["https://hooks.example.com/perfpilot"])
    secret: SigningSecret | None = None
    events: list[WebhookEvent] = Field(min_length=1, examples=[["alert.fired", "alert.resolved"]])
    service_name: ServiceName | None = Field(
        default=None, description="Only this service's events; null = every service"
    )
    description: str = Field(default="", max_length=2000)
    is_active: bool = True
    group_by: list[LabelName] = Field(
        default_factory=list,
        max_length=16,
        description="With groupWait > 0: alert events whose labels (alertname, service, "
        "severity, metric, rule_id and the alert's labels) agree on these go out as one "
        "delivery; [] groups by alertname and service",
    )
    group_wait: float = Field(
        default=0.0,
        ge=0,
        le=3600,
        description="Seconds to wait after a group's first alert before sending it (0: no "
        "grouping, one delivery per event)",
    )
    group_interval: float = Field(
        default=300.0,
        gt=0,
        le=86400,
        description="Seconds between deliveries of one group once it has been sent",
    )

    _url = field_validator("url")(_check_url)
    _events = field_validator("events")(_unique)


_NOT_NULL_ON_UPDATE = ("url", "secret", "events", "description", "isActive")


def _document_not_null(schema: dict[str, Any]) -> None:
    """These fields may be omitted but never null (a 422): say so in the OpenAPI document."""
    for name in _NOT_NULL_ON_UPDATE:
        field = schema["properties"][name]
        field.pop("default", None)
        variants = [v for v in field.pop("anyOf", []) if v.get("type") != "null"]
        if variants:
            [variant] = variants
            field.update(variant)


class WebhookUpdate(CamelModel):
    """Partial update: absent fields keep their value; `serviceName: null` means every service."""

    model_config = ConfigDict(json_schema_extra=_document_not_null)

    url: str | None = Field(default=None, max_length=MAX_URL_LENGTH)
    secret: SigningSecret | None = None
    events: list[WebhookEvent] | None = Field(default=None, min_length=1)
    service_name: ServiceName | None = None
    description: str | None = Field(default=None, max_length=2000)
    is_active: bool | None = None
    group_by: list[LabelName] | None = Field(default=None, max_length=16)
    group_wait: float | None = Field(default=None, ge=0, le=3600)
    group_interval: float | None = Field(default=None, gt=0, le=86400)

    @field_validator("url", "secret", "events", "description", "is_active")
    @classmethod
    def _not_null(cls, value: object) -> object:
        # only runs for fields the client sent: null there is a mistake, not "keep"
        if value is None:
            raise ValueError("must not be null; omit the field to keep its value")
        return value

    @field_validator("url")
    @classmethod
    def _url(cls, url: str | None) -> str | None:
        return None if url is None else _check_url(url)

    @field_validator("events")
    @classmethod
    def _events(cls, events: list[WebhookEvent] | None) -> list[WebhookEvent] | None:
        return None if events is None else _unique(events)


class WebhookOut(CamelModel):
    id: uuid.UUID
    url: str
    events: list[str]
    service_name: str | None
    description: str
    is_active: bool
    group_by: list[str]
    group_wait: float
    group_interval: float
    created_at: datetime
    updated_at: datetime


class WebhookCreated(WebhookOut):
    secret: str = Field(description="Shown this once; store it to verify signatures")
    standard_secret: str = Field(
        description="The same secret in Standard Webhooks form (whsec_<base64>), for "
        "verifying webhook-signature with a Standard Webhooks library; shown this once"
    )


class DeliveryOut(CamelModel):
    id: uuid.UUID
    webhook_id: uuid.UUID
    event: str
    idempotency_key: str
    status: DeliveryStatus
    attempts: int
    next_attempt_at: datetime | None = Field(description="null once delivered or dead")
    last_attempt_at: datetime | None
    last_status_code: int | None
    last_error: str | None
    event_at: datetime
    created_at: datetime
    delivered_at: datetime | None
