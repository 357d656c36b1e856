"""OTLP/HTTP metrics receiver at the root path (`POST /v1/metrics`, the OTLP default), and the
view of names that arrived without a mapping."""

from __future__ import annotations

import zlib
from datetime import datetime

from fastapi import APIRouter, Request, Response

from perfpilot.collection import otlp
from perfpilot.collection.convert import Conversion, ConvertOptions, convert_points
from perfpilot.collection.hub import CollectionDep
from perfpilot.collection.sink import ingest_collected, unit_accepted
from perfpilot.collection.validation import SampleCheck
from perfpilot.core.deps import ContextDep, IngestAuth, ViewerAuth
from perfpilot.core.errors import BadRequest, PayloadTooLarge, UnsupportedMediaType
from perfpilot.core.schemas import CamelModel, ErrorEnvelope, ListEnvelope

receiver = APIRouter(tags=["collection"])
router = APIRouter(prefix="/collection", tags=["collection"])

_MEDIA_TYPES = {
    "application/x-protobuf": otlp.PROTOBUF,
    "application/protobuf": otlp.PROTOBUF,
    "application/json": otlp.JSON,
}
# Content-Encoding -> zlib window bits
_ENCODINGS = {"gzip": 16 + zlib.MAX_WBITS, "x-gzip": 16 + zlib.MAX_WBITS, "deflate": zlib.MAX_WBITS}


async def _read_capped(request: Request, cap: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > cap:
        raise PayloadTooLarge(f"Request body exceeds the {cap} byte limit")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > cap:
            raise PayloadTooLarge(f"Request body exceeds the {cap} byte limit")
        chunks.append(chunk)
    return b"".join(chunks)


def _decompress(body: bytes, encoding: str, cap: int) -> bytes:
    """The decoded body, never more than `cap` bytes of it (a gzip bomb stops at the cap)."""
    wbits = _ENCODINGS[encoding]
    decoder = zlib.decompressobj(wbits)
    try:
        out = decoder.decompress(body, cap + 1)
        if len(out) > cap or decoder.unconsumed_tail:
            raise PayloadTooLarge(f"Decompressed request body exceeds the {cap} byte limit")
        out += decoder.flush()
    except zlib.error as exc:
        raise BadRequest(f"Body is not valid {encoding} data: {exc}") from None
    if not decoder.eof:
        raise BadRequest(f"Body is truncated {encoding} data")
    if len(out) > cap:
        raise PayloadTooLarge(f"Decompressed request body exceeds the {cap} byte limit")
    return out


@receiver.post(
    "/v1/metrics",
    summary="OTLP/HTTP metrics receiver",
    description="Point an OpenTelemetry SDK or Collector OTLP/HTTP exporter at this server "
    "(`OTEL_EXPORTER_OTLP_ENDPOINT=http://host:8000`, token in `OTEL_EXPORTER_OTLP_HEADERS="
    "Authorization=Bearer%20<jwt>`, operator role). Bodies: `application/x-protobuf` or "
    "`application/json` (OTLP JSON), optionally `Content-Encoding: gzip`. Resource "
    "`service.name` is the serviceName; names map onto metric types by the table in the README; "
    "cumulative sums become per-interval rates, histograms histogram samples. The answer is an "
    "ExportMetricsServiceResponse in the request's encoding; points not stored are counted in "
    "`partial_success` with the first reasons. A malformed body is a 400 naming the problem.",
    response_class=Response,
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "application/x-protobuf": {"schema": {"type": "string", "format": "binary"}},
                "application/json": {
                    "schema": {
                        "type": "object",
                        "description": "ExportMetricsServiceRequest, OTLP JSON encoding",
                    }
                },
            },
        }
    },
    responses={
        200: {
            "description": "ExportMetricsServiceResponse",
            "content": {"application/x-protobuf": {}, "application/json": {}},
        },
        400: {"model": ErrorEnvelope, "description": "Not a valid export in its encoding"},
        413: {"model": ErrorEnvelope, "description": "Body (or decompressed body) too large"},
        415: {"model": ErrorEnvelope, "description": "Unsupported content type or encoding"},
    },
)
async def export_metrics(
    request: Request, ctx: ContextDep, hub: CollectionDep, _: IngestAuth
) -> Response:
    media = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    media_type = _MEDIA_TYPES.get(media)
    if media_type is None:
        raise UnsupportedMediaType(
            "Content-Type must be application/x-protobuf or application/json (OTLP/HTTP)"
        )
    encoding = request.headers.get("content-encoding", "identity").strip().lower()
    if encoding not in _ENCODINGS and encoding not in ("", "identity"):
        raise UnsupportedMediaType("Content-Encoding must be gzip, deflate or identity")
    cap = ctx.settings.max_batch_body_bytes
    body = await _read_capped(request, cap)
    if encoding in _ENCODINGS:
        body = _decompress(body, encoding, cap)
    try:
        export = otlp.decode_request(body, media_type)
    except otlp.MalformedExport as exc:
        raise BadRequest(str(exc)) from None
    outcome = Conversion()
    check = SampleCheck()
    points = otlp.source_points(export, outcome)  # streamed: each point freed once converted
    options = ConvertOptions(table=hub.table, unit_ok=unit_accepted)
    outcome.merge(convert_points(points, hub.otlp_state, options, check=check))
    hub.unmapped.record(outcome.unmapped, source="otlp")
    stored = await ingest_collected(ctx.ingest, outcome.samples, ready=outcome.ready, check=check)
    for reason in stored.reasons:
        outcome.reject(reason, 0)
    outcome.rejected += stored.rejected
    return Response(otlp.encode_response(outcome, media_type), media_type=media_type)


class UnmappedOut(CamelModel):
    name: str
    source: str
    points: int
    first_seen: datetime
    last_seen: datetime


@router.get(
    "/unmapped",
    response_model=ListEnvelope[UnmappedOut],
    summary="Metric names received without a mapping",
    description="Names that OTLP exports (source `otlp`) or scrape targets (source `target:"
    "<id>`) sent and no mapping covers, with how many points were set aside. Kept in this "
    "process's memory (the 1,000 most recent names).",
)
async def list_unmapped(hub: CollectionDep, _: ViewerAuth) -> ListEnvelope[UnmappedOut]:
    items = [UnmappedOut.model_validate(u) for u in hub.unmapped.listing()]
    return ListEnvelope(data=items, count=len(items), message="Unmapped metric names")
