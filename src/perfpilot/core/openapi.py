"""The OpenAPI document states, per operation, the error responses the server really gives.

FastAPI documents what a route declares; the errors come from layers it cannot see (the
auth dependency, the body checks in the middleware, the id lookups, the router's 405). This
derives them from each route: a token → 401 (+403 above viewer) and 429; a body → 400, 413,
415; parameters or a body → 422; a path id → 404; a database session → 503; every
operation → 405 with `Allow`, and 431. A route adds its own (409, a 404 on a query) in `responses=`.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.dependencies.models import Dependant
from fastapi.openapi.utils import get_openapi
from fastapi.routing import APIRoute

from perfpilot.core.auth import Role
from perfpilot.core.deps import Authorize, get_session
from perfpilot.core.routing import flat_routes
from perfpilot.core.schemas import ErrorEnvelope

_ERROR_REF = "#/components/schemas/ErrorEnvelope"
_HEADER = {"schema": {"type": "string"}}
_ERRORS: dict[int, tuple[str, dict[str, Any]]] = {
    400: ("Malformed JSON", {}),
    401: (
        "Missing, expired or invalid bearer token",
        {"WWW-Authenticate": {**_HEADER, "description": 'Bearer realm="perfpilot"'}},
    ),
    403: ("The token's role is too low", {}),
    404: ("No record has that id", {}),
    405: (
        "Method not allowed on this path",
        {"Allow": {**_HEADER, "required": True, "description": "The methods the path has"}},
    ),
    413: ("Body too large", {}),
    415: ("Body is not JSON", {}),
    422: ("Invalid field; details name the field path", {}),
    431: ("Request header fields too large (16 KiB)", {}),
    429: (
        "Rate limited",
        {"Retry-After": {"schema": {"type": "integer"}, "description": "Seconds to wait"}},
    ),
    503: ("Database unavailable", {}),
}


def _walk(dependant: Dependant) -> list[Dependant]:
    found = [dependant]
    for sub in dependant.dependencies:
        found.extend(_walk(sub))
    return found


def _error_codes(route: APIRoute) -> set[int]:
    dependants = _walk(route.dependant)
    calls = [d.call for d in dependants]
    codes = {405, 431}  # any request: the server caps request heads (core/server.py)
    roles = [call.role for call in calls if isinstance(call, Authorize)]
    if roles:
        # every authenticated route reads or writes the store
        codes |= {401, 429, 503}
        if any(role != Role.viewer for role in roles):
            codes.add(403)
    if route.body_field is not None:
        codes |= {400, 413, 415, 422}
    if any(d.query_params or d.header_params or d.path_params for d in dependants):
        codes.add(422)
    if route.dependant.path_params:
        codes.add(404)
    if get_session in calls:
        codes.add(503)
    return codes


def _error_response(code: int) -> dict[str, Any]:
    description, headers = _ERRORS[code]
    response: dict[str, Any] = {
        "description": description,
        "content": {"application/json": {"schema": {"$ref": _ERROR_REF}}},
    }
    if headers:
        response["headers"] = headers
    return response


def _is_fastapi_validation_error(response: dict[str, Any]) -> bool:
    schema = response.get("content", {}).get("application/json", {}).get("schema", {})
    return bool(schema.get("$ref", "").endswith("/HTTPValidationError"))


def build_openapi(app: FastAPI) -> dict[str, Any]:
    document = get_openapi(
        title=app.title,
        version=app.version,
        openapi_version=app.openapi_version,
        description=app.description,
        routes=app.routes,
        tags=app.openapi_tags,
        servers=app.servers,
        separate_input_output_schemas=app.separate_input_output_schemas,
    )
    schemas = document.setdefault("components", {}).setdefault("schemas", {})
    envelope = ErrorEnvelope.model_json_schema(ref_template="#/components/schemas/{model}")
    schemas.update(envelope.pop("$defs", {}))
    schemas["ErrorEnvelope"] = envelope
    for context in flat_routes(app.routes):
        route = getattr(context, "original_route", context)
        if not isinstance(route, APIRoute) or not getattr(context, "include_in_schema", False):
            continue
        for method in context.methods:
            operation = document["paths"][context.path_format][method.lower()]
            responses: dict[str, Any] = operation["responses"]
            for code in sorted(_error_codes(route)):
                current = responses.get(str(code))
                if current is None or _is_fastapi_validation_error(current):
                    responses[str(code)] = _error_response(code)
    # FastAPI's own 422 body is never sent: the error handlers answer with the envelope
    for name in ("HTTPValidationError", "ValidationError"):
        schemas.pop(name, None)
    return document


def install_openapi(app: FastAPI) -> None:
    """Serve `build_openapi(app)` (computed once) as the app's OpenAPI document."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = build_openapi(app)
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
