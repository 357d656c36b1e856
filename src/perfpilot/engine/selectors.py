"""Which labelled samples a rule sees, and how it groups them (DESIGN §9).

A rule's `Selector` is its label matchers and its groupBy labels. Matchers follow Prometheus:
`=`, `!=`, `=~`, `!~`, a missing label reads as the empty string, and a regex must match the
whole value (anchored). Regexes are RE2 (linear time, no backtracking), so no pattern can make
evaluation slow. Samples that pass the matchers are grouped by the values of the groupBy
labels (a missing one is left out of the group, as Prometheus' `by` does); the engine keeps
one window and one alert state per group. Rules without matchers or groupBy have the plain
selector and see every sample of their series, labelled or not, as before labels existed.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Final, Literal

import re2

MatchOp = Literal["=", "!=", "=~", "!~"]
MATCH_OPS: Final[tuple[MatchOp, ...]] = ("=", "!=", "=~", "!~")
MAX_REGEX_LENGTH: Final = 256
# A group: the groupBy labels present on a sample, sorted by name. () for ungrouped rules.
Group = tuple[tuple[str, str], ...]
NO_GROUP: Final[Group] = ()


def compile_regex(pattern: str) -> re2._Regexp:
    """An RE2 regex (ValueError naming the problem when it is too long or invalid)."""
    if len(pattern) > MAX_REGEX_LENGTH:
        raise ValueError(f"regex must be at most {MAX_REGEX_LENGTH} characters")
    try:
        return re2.compile(pattern)
    except re2.error as exc:
        raise ValueError(f"invalid RE2 regex: {exc}") from None


@dataclass(frozen=True, slots=True)
class Matcher:
    label: str
    op: MatchOp
    value: str
    _regex: re2._Regexp | None = field(init=False, repr=False, compare=False, hash=False)

    def __post_init__(self) -> None:
        if self.op not in MATCH_OPS:
            raise ValueError(f"unknown matcher op {self.op!r}")
        regex = compile_regex(self.value) if self.op in ("=~", "!~") else None
        object.__setattr__(self, "_regex", regex)

    def matches(self, labels: Mapping[str, str]) -> bool:
        value = labels.get(self.label, "")
        op = self.op
        if op == "=":
            return value == self.value
        if op == "!=":
            return value != self.value
        assert self._regex is not None
        found = self._regex.fullmatch(value) is not None
        return found if op == "=~" else not found

    def to_dict(self) -> dict[str, str]:
        return {"label": self.label, "op": self.op, "value": self.value}


@dataclass(frozen=True, slots=True)
class Selector:
    """A rule's matchers and groupBy labels; falsy when it has neither (the plain selector)."""

    matchers: tuple[Matcher, ...] = ()
    group_by: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        # in name order, once each: groups are sorted pairs, and equal selectors compare equal
        object.__setattr__(self, "group_by", tuple(sorted(set(self.group_by))))

    def __bool__(self) -> bool:
        return bool(self.matchers or self.group_by)

    def group_of(self, labels: Mapping[str, str]) -> Group | None:
        """The sample's group when it passes the matchers, else None."""
        for matcher in self.matchers:
            if not matcher.matches(labels):
                return None
        return tuple((name, labels[name]) for name in self.group_by if name in labels)


PLAIN: Final = Selector()


def selector(matchers: list[dict[str, str]] | None, group_by: list[str] | None) -> Selector:
    """A Selector from a stored condition's `matchers` and `groupBy` (ValueError if bad)."""
    built = tuple(Matcher(m["label"], m["op"], m["value"]) for m in matchers or ())  # type: ignore[arg-type]
    return Selector(built, tuple(group_by or ()))
