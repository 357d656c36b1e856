"""The Prometheus text format -> metric families: a fast path for the common form, and
prometheus_client's parser for everything else.

prometheus_client's parser reads a line character by character in Python (~20 µs a sample:
~90 % of what a scrape costs to convert). Most expositions use a narrow form: `# HELP` /
`# TYPE` lines without quotes, and samples `name{label="value",...} value [timestamp]` with
legacy names, no quotes or escapes in names and label values, single spaces.
`metric_families` reads that form with two regular expressions and groups the samples into
families exactly as prometheus_client's `text_fd_to_metric_families` does (the same state
machine: HELP/TYPE start a family, a sample whose name the family does not allow is an
untyped family of its own, counters named with and without `_total`). Any line outside the
form sends the whole body to prometheus_client, which then gives its own result or error.
tests/unit/collection/test_text_format.py compares both on the same bodies.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field

from prometheus_client.parser import text_string_to_metric_families

_NAME = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*")
_SAMPLE = re.compile(
    r'([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{((?:[a-zA-Z_][a-zA-Z0-9_]*="[^"\\]*",?)*)\})? (\S+)(?: (\S+))?'
)
_LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="([^"\\]*)"')
# prometheus_client's Metric types, and `untyped` (its name for `unknown`)
_TYPES = {"counter", "gauge", "summary", "histogram", "gaugehistogram", "unknown", "info"}
_TYPES |= {"stateset", "untyped"}
_ALLOWED = {
    "counter": ("",),
    "gauge": ("",),
    "summary": ("_count", "_sum", ""),
    "histogram": ("_count", "_sum", "_bucket"),
}

Sample = tuple[str, dict[str, str], float]  # name, labels, value


@dataclass(slots=True)
class Family:
    name: str
    type: str
    samples: list[Sample] = field(default_factory=list)


class _Uncommon(Exception):
    """A line outside the common form: prometheus_client parses the body."""


def metric_families(text: str) -> list[Family]:
    """The families of an exposition; ValueError (or IndexError, KeyError: prometheus_client's
    own) when the body is not the Prometheus text format."""
    try:
        return list(_common_families(text))
    except _Uncommon:
        return [
            Family(f.name, f.type, [(s.name, s.labels, float(s.value)) for s in f.samples])
            for f in text_string_to_metric_families(text)
        ]


def _value(text: str) -> float:
    if "_" in text:  # prometheus_client refuses it; Python's float would not
        raise _Uncommon
    try:
        return float(text)
    except ValueError:
        raise _Uncommon from None


def _family(name: str, typ: str, samples: list[Sample]) -> Family:
    """prometheus_client's build_metric: counters are named without `_total`, their samples
    with it; `untyped` is `unknown`."""
    if typ == "counter":
        if name.endswith("_total"):
            name = name[: -len("_total")]
        else:
            samples = [(n + "_total", labels, v) for n, labels, v in samples]
    if not name:
        raise _Uncommon
    return Family(name, "unknown" if typ == "untyped" else typ, samples)


def _common_families(text: str) -> Iterator[Family]:
    name = ""
    typ = "untyped"
    samples: list[Sample] = []
    allowed: tuple[str, ...] = ()
    for raw in text.split("\n"):  # as prometheus_client reads lines (not str.splitlines)
        line = raw.strip()
        if not line:
            continue
        if line[0] == "#":
            parts = line.split(None, 3)
            if any('"' in part or "\\" in part for part in parts[:3]):
                raise _Uncommon  # quoted names (the help text after them does not matter)
            if len(parts) < 2 or (len(parts) > 2 and parts[1] not in ("TYPE", "HELP")):
                continue
            if len(parts) < 3 or parts[0] != "#" or not _NAME.fullmatch(parts[2]):
                raise _Uncommon
            candidate = parts[2]
            if parts[1] == "HELP":
                if candidate != name:
                    if name:
                        yield _family(name, typ, samples)
                    name, typ, samples, allowed = candidate, "untyped", [], (candidate,)
                continue
            if len(parts) < 4 or parts[3] not in _TYPES:
                raise _Uncommon
            if candidate != name:
                if name:
                    yield _family(name, typ, samples)
                name, samples = candidate, []
            typ = parts[3]
            allowed = tuple(name + suffix for suffix in _ALLOWED.get(typ, ("",)))
            continue
        match = _SAMPLE.fullmatch(line)
        if match is None:
            raise _Uncommon
        sample_name, label_text, value, timestamp = match.groups()
        labels = dict(_LABEL.findall(label_text)) if label_text else {}
        if label_text and (
            len(labels) != label_text.count('="') or any(k.startswith("__") for k in labels)
        ):
            raise _Uncommon  # a repeated or reserved label name: prometheus_client's verdict
        if timestamp is not None:
            _value(timestamp)
        sample = (sample_name, labels, _value(value))
        if sample_name in allowed:
            samples.append(sample)
            continue
        if name:
            yield _family(name, typ, samples)
        name, typ, samples, allowed = "", "untyped", [], ()
        yield _family(sample_name, "untyped", [sample])
    if name:
        yield _family(name, typ, samples)
