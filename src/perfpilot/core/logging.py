"""Structured logs with structlog: JSON lines by default, one event per request."""

from __future__ import annotations

import logging
import sys

import orjson
import structlog

# Never log these, whatever a caller passes in.
_REDACTED_KEYS = frozenset({"authorization", "token", "secret", "password", "jwt", "signature"})


def _redact(
    _: object, __: str, event_dict: structlog.typing.EventDict
) -> structlog.typing.EventDict:
    for key in list(event_dict):
        if key.lower() in _REDACTED_KEYS:
            event_dict[key] = "[redacted]"
    return event_dict


class _CurrentStderr:
    """Whatever `sys.stderr` is at write time, not the object it was at configuration time."""

    def write(self, text: str) -> int:
        return sys.stderr.write(text)

    def flush(self) -> None:
        sys.stderr.flush()


def _orjson_text(event: object, **_: object) -> str:
    # what the stdlib encoder cannot write either (an object in an event) is written as str()
    return orjson.dumps(event, default=str, option=orjson.OPT_NON_STR_KEYS).decode()


def configure_logging(*, level: str = "INFO", fmt: str = "json") -> None:
    renderer: structlog.typing.Processor
    if fmt == "console":
        renderer = structlog.dev.ConsoleRenderer(colors=False)
    else:
        # orjson: a third of the stdlib encoder's CPU on the per-request access line
        renderer = structlog.processors.JSONRenderer(serializer=_orjson_text)
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            _redact,
            structlog.processors.format_exc_info,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(
            logging.getLevelNamesMapping().get(level.upper(), logging.INFO)
        ),
        logger_factory=structlog.PrintLoggerFactory(file=_CurrentStderr()),  # type: ignore[arg-type]
        cache_logger_on_first_use=True,
    )
