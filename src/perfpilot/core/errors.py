"""Domain errors carry their HTTP status and code; one set of handlers renders the envelope."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import structlog
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import ValidationError
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from starlette.exceptions import HTTPException as StarletteHTTPException

from perfpilot.core.routing import flat_routes

log = structlog.get_logger("perfpilot.errors")

# What a string holding a lone UTF-16 surrogate (from a "\\ud800"-style JSON escape) is told.
LONE_SURROGATE_MESSAGE = (
    "must be valid Unicode: a lone surrogate escape (\\ud800-\\udfff) is not allowed"
)


class PerfpilotError(Exception):
    """Base of every error a client may see."""

    status_code = 500
    code = "internal_error"

    def __init__(
        self,
        message: str,
        *,
        details: Sequence[dict[str, Any]] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.details = list(details or [])
        self.headers = headers or {}

    def with_headers(self, headers: dict[str, str]) -> PerfpilotError:
        self.headers.update(headers)
        return self


class BadRequest(PerfpilotError):
    status_code = 400
    code = "bad_request"


class MalformedJSON(BadRequest):
    code = "malformed_json"


class Unauthorized(PerfpilotError):
    status_code = 401
    code = "unauthorized"

    def __init__(self, message: str = "Missing or invalid bearer token") -> None:
        super().__init__(message, headers={"WWW-Authenticate": 'Bearer realm="perfpilot"'})


class Forbidden(PerfpilotError):
    status_code = 403
    code = "forbidden"


class NotFound(PerfpilotError):
    status_code = 404
    code = "not_found"


class Conflict(PerfpilotError):
    status_code = 409
    code = "conflict"


class PayloadTooLarge(PerfpilotError):
    status_code = 413
    code = "payload_too_large"


class UnsupportedMediaType(PerfpilotError):
    status_code = 415
    code = "unsupported_media_type"


class InvalidField(PerfpilotError):
    status_code = 422
    code = "validation_error"


class HeadersTooLarge(PerfpilotError):
    status_code = 431
    code = "headers_too_large"


class RateLimited(PerfpilotError):
    status_code = 429
    code = "rate_limited"


class DatabaseUnavailable(PerfpilotError):
    status_code = 503
    code = "database_unavailable"


def error_body(
    code: str, message: str, details: Sequence[dict[str, Any]] | None = None
) -> dict[str, Any]:
    return {
        "success": False,
        "error": {"code": code, "message": message, "details": list(details or [])},
    }


def error_response(exc: PerfpilotError) -> JSONResponse:
    return JSONResponse(
        error_body(exc.code, exc.message, exc.details),
        status_code=exc.status_code,
        headers=exc.headers,
    )


def _clean_message(message: str) -> str:
    for prefix in ("Value error, ", "Assertion failed, "):
        if message.startswith(prefix):
            return message[len(prefix) :]
    return message


def validation_details(errors: Sequence[Any], *, drop_prefix: int = 0) -> list[dict[str, Any]]:
    """Pydantic errors as `{field, message, type}`; `field` is the dotted path ("items.3.value")."""
    details: list[dict[str, Any]] = []
    for err in errors:
        loc = [str(p) for p in err.get("loc", ())][drop_prefix:]
        message = _clean_message(str(err.get("msg", "invalid")))
        if err.get("type") == "string_unicode":  # pydantic's words for a lone "\ud800" escape
            message = LONE_SURROGATE_MESSAGE
        detail: dict[str, Any] = {
            "field": ".".join(loc) or "body",
            "message": message,
            "type": err.get("type", "value_error"),
        }
        # batch items: name the index explicitly so clients need not parse the path
        if len(loc) >= 2 and loc[0] == "samples" and loc[1].isdigit():
            detail["index"] = int(loc[1])
        details.append(detail)
    return details


def _request_validation_details(exc: RequestValidationError) -> list[dict[str, Any]]:
    details = []
    for err in exc.errors():
        loc = list(err.get("loc", ()))
        if loc and loc[0] in ("body", "query", "path", "header"):
            source, loc = loc[0], loc[1:]
        else:
            source = "body"
        err = dict(err, loc=loc)
        [detail] = validation_details([err])
        detail["in"] = source
        details.append(detail)
    return details


def allowed_methods(request: Request) -> list[str]:
    """Every method some route offers for this request's path, for `Allow` on a 405.

    Starlette's own 405 names the methods of the first route that matched the path only.
    """
    methods: set[str] = set()
    for route in flat_routes(request.app.routes):
        pattern = getattr(route, "path_regex", None)
        if pattern is not None and pattern.match(request.url.path):
            offered = getattr(route, "methods", None)
            methods |= set(offered) if offered else {"GET", "HEAD"}  # a mount: static files
    return sorted(methods)


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(PerfpilotError)
    async def _perfpilot_error(_: Request, exc: PerfpilotError) -> JSONResponse:
        return error_response(exc)

    @app.exception_handler(RequestValidationError)
    async def _request_validation(_: Request, exc: RequestValidationError) -> JSONResponse:
        for err in exc.errors():
            if err.get("type") == "json_invalid":
                return error_response(MalformedJSON("Request body is not valid JSON"))
        details = _request_validation_details(exc)
        if details and all(d["in"] == "path" and d["field"].endswith("_id") for d in details):
            # a malformed id names no record: that is a missing record, not a bad field
            return error_response(NotFound("No record has that id", details=details))
        fields = ", ".join(sorted({d["field"] for d in details}))
        return error_response(InvalidField(f"Invalid request: {fields}", details=details))

    @app.exception_handler(ValidationError)
    async def _validation(_: Request, exc: ValidationError) -> JSONResponse:
        details = validation_details(exc.errors())
        fields = ", ".join(sorted({d["field"] for d in details}))
        return error_response(InvalidField(f"Invalid request: {fields}", details=details))

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        # FastAPI raises a bare 400 when the body cannot be decoded at all (e.g. nested too deep)
        codes = {400: MalformedJSON.code, 404: "not_found", 405: "method_not_allowed"}
        headers = dict(getattr(exc, "headers", None) or {})
        if exc.status_code == 405:
            headers["Allow"] = ", ".join(allowed_methods(request))
        return JSONResponse(
            error_body(codes.get(exc.status_code, "http_error"), str(exc.detail)),
            status_code=exc.status_code,
            headers=headers,
        )

    for database_error in DATABASE_ERRORS:

        @app.exception_handler(database_error)
        async def _database(_: Request, exc: Exception) -> JSONResponse:
            return error_response(client_error(exc))

    @app.exception_handler(Exception)
    async def _unexpected(_: Request, exc: Exception) -> JSONResponse:
        return error_response(client_error(exc))


# PoolTimeout: no connection (on SQLite: no write turn) in time
DATABASE_ERRORS: tuple[type[Exception], ...] = (OperationalError, DBAPIError, PoolTimeout, OSError)


def client_error(exc: Exception) -> PerfpilotError:
    """What a client is told of an exception no route handled (logged here): a domain error
    as it is, a database error as 503, anything else as a bare 500."""
    if isinstance(exc, PerfpilotError):
        return exc
    if isinstance(exc, DATABASE_ERRORS):
        log.error("database_unavailable", error=type(exc).__name__)
        return DatabaseUnavailable("The database is unavailable; retry later")
    log.exception("unhandled_error", error=type(exc).__name__)
    return PerfpilotError("Internal error")
