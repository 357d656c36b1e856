"""The collection room's process state: the mapping table, the OTLP series state, the names
nobody mapped. Built by create_app, reached by the routers through `CollectionDep`."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import Depends, Request

from perfpilot.collection.cumulative import CumulativeState
from perfpilot.collection.mapping import MappingTable, builtin_table

MAX_UNMAPPED_NAMES = 1000


@dataclass(slots=True)
class UnmappedName:
    name: str
    source: str
    points: int
    first_seen: datetime
    last_seen: datetime


class UnmappedNames:
    """Names that arrived without a mapping, with how many points; at most `max_names`, the
    least recently seen forgotten first."""

    def __init__(self, *, max_names: int = MAX_UNMAPPED_NAMES) -> None:
        self.max_names = max_names
        self._names: OrderedDict[tuple[str, str], UnmappedName] = OrderedDict()

    def record(self, counts: Mapping[str, int], *, source: str) -> None:
        now = datetime.now(UTC)
        for name, points in counts.items():
            key = (source, name)
            seen = self._names.get(key)
            if seen is None:
                seen = UnmappedName(name, source, 0, now, now)
                self._names[key] = seen
            seen.points += points
            seen.last_seen = now
            self._names.move_to_end(key)
        while len(self._names) > self.max_names:
            self._names.popitem(last=False)

    def listing(self) -> list[UnmappedName]:
        """Most points first."""
        return sorted(self._names.values(), key=lambda u: (-u.points, u.name))


@dataclass
class CollectionHub:
    table: MappingTable = field(default_factory=builtin_table)
    otlp_state: CumulativeState = field(default_factory=CumulativeState)
    unmapped: UnmappedNames = field(default_factory=UnmappedNames)
    scraper: Any = None  # the ScrapeScheduler, once the lifespan started it


def get_hub(request: Request) -> CollectionHub:
    hub: CollectionHub = request.app.state.collection
    return hub


async def _hub(request: Request) -> CollectionHub:
    return get_hub(request)


CollectionDep = Annotated[CollectionHub, Depends(_hub)]
