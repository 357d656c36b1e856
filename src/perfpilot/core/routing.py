"""The app's routes as one flat list, whatever the FastAPI version nests them in."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

import fastapi.routing
from starlette.routing import BaseRoute


def flat_routes(routes: Sequence[BaseRoute]) -> Iterator[Any]:
    """Each route with its effective `path_format`, `path_regex` and `methods`.

    Recent FastAPI keeps included routers as nested entries (and exposes
    `iter_route_contexts` to walk them); older versions flatten them into `app.routes`.
    """
    iterate = getattr(fastapi.routing, "iter_route_contexts", None)
    yield from iterate(routes) if iterate is not None else routes
