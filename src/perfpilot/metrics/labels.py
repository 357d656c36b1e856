"""Sample labels (DESIGN §9): their limits, their stored form and the ids of series.

A series is (service, metric type, label set). A label set is stored normalised: canonical
JSON (keys sorted, compact), so equal sets are equal text. A labelled series is identified by
a stable 64-bit hash of (service, type, canonical labels), computed here and never by the
database, so a sample row carries its series id without a lookup; the unlabelled series of a
(service, type) has no id (NULL): its samples are exactly the seed's rows.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping, Sequence
from functools import lru_cache
from typing import Annotated, Final

import orjson
from pydantic import Field, StringConstraints

MAX_LABELS: Final = 16
LABEL_NAME_PATTERN: Final = r"^[a-zA-Z_][a-zA-Z0-9_]{0,63}$"
# 1-256 characters, none of them NUL (PostgreSQL text cannot hold it)
LABEL_VALUE_PATTERN: Final = r"^[^\x00]{1,256}$"

LabelName = Annotated[str, StringConstraints(pattern=LABEL_NAME_PATTERN)]
LabelValue = Annotated[
    str, StringConstraints(min_length=1, max_length=256, pattern=LABEL_VALUE_PATTERN)
]
Labels = Annotated[
    dict[LabelName, LabelValue],
    Field(
        max_length=MAX_LABELS,
        description=f"At most {MAX_LABELS} labels (model, endpoint, region, tenant, ...): keys "
        "`[a-zA-Z_][a-zA-Z0-9_]{0,63}`, values 1-256 characters without NUL. A series is "
        "(serviceName, metricType, labels); filter with `labels[key]=value`, group rules with "
        "`condition.groupBy`.",
        examples=[{"model": "gpt-4", "region": "eu-west-1"}],
    ),
]

EMPTY_LABELS_JSON: Final = "{}"
# the patterns' bodies, for fullmatch (Python's `$` would also match before a final newline)
_NAME = re.compile(LABEL_NAME_PATTERN[1:-1])


def valid_label_name(name: str) -> bool:
    return _NAME.fullmatch(name) is not None


def valid_label_value(value: str) -> bool:
    return 1 <= len(value) <= 256 and "\x00" not in value


def labels_problem(labels: Mapping[str, str]) -> tuple[str, str] | None:
    """(field, message) of the first way `labels` break the limits above, or None: the same
    verdict as the `Labels` type, for labels that do not come from JSON (OTLP, scrapes)."""
    if len(labels) > MAX_LABELS:
        return "labels", f"at most {MAX_LABELS} labels"
    for name, value in labels.items():
        if not isinstance(name, str) or not valid_label_name(name):
            return f"labels.{name}", f"label name must match {LABEL_NAME_PATTERN}"
        if not isinstance(value, str) or not valid_label_value(value):
            return f"labels.{name}", "label value must be 1-256 characters without NUL"
    return None


def labels_json(labels: Mapping[str, str]) -> str:
    """The canonical stored form: compact JSON, keys sorted."""
    if not labels:
        return EMPTY_LABELS_JSON
    return orjson.dumps(labels, option=orjson.OPT_SORT_KEYS).decode()


def labelled_series_id(service_name: str, metric_type: str, labels: Mapping[str, str]) -> int:
    """The id of a labelled series (labels not empty); memoised: a batch repeats few sets."""
    return _series_id_of(service_name, metric_type, tuple(labels.items()))


@lru_cache(maxsize=65_536)
def _series_id_of(service_name: str, metric_type: str, items: tuple[tuple[str, str], ...]) -> int:
    found = series_id(service_name, metric_type, labels_json(dict(items)))
    assert found is not None  # labels given
    return found


def group_json(group: Sequence[tuple[str, str]]) -> str:
    """A rule group's label values (sorted pairs) in canonical form."""
    return labels_json(dict(group))


def group_of(labels: Mapping[str, str] | None) -> tuple[tuple[str, str], ...]:
    """Label values as a rule group: pairs sorted by name."""
    return tuple(sorted((labels or {}).items()))


def _hash64(data: bytes) -> int:
    """A stable signed 64-bit hash (fits BIGINT on both stores)."""
    return int.from_bytes(hashlib.blake2b(data, digest_size=8).digest(), "big", signed=True)


def labels_hash(canonical_labels: str) -> int:
    """The id of a label set, whatever its service or type (for cardinality counts)."""
    return _hash64(canonical_labels.encode())


def series_id(service_name: str, metric_type: str, canonical_labels: str) -> int | None:
    """The id of a labelled series; None for the unlabelled one."""
    if canonical_labels == EMPTY_LABELS_JSON:
        return None
    return _hash64(f"{service_name}\x00{metric_type}\x00{canonical_labels}".encode())
