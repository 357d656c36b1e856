"""Label limits, the stored form and series ids (metrics/labels.py)."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st
from pydantic import TypeAdapter, ValidationError

from perfpilot.metrics.labels import (
    Labels,
    labels_json,
    labels_problem,
    series_id,
)

LABELS: TypeAdapter[dict[str, str]] = TypeAdapter(Labels)
names = st.one_of(
    st.from_regex(r"[a-zA-Z_][a-zA-Z0-9_]{0,63}", fullmatch=True),
    st.text(max_size=70),
)
values = st.one_of(st.text(min_size=1, max_size=256), st.text(max_size=300))


@given(st.dictionaries(names, values, max_size=18))
def test_labels_problem_agrees_with_the_labels_type(labels: dict[str, str]) -> None:
    try:
        LABELS.validate_python(labels)
        valid = True
    except ValidationError:
        valid = False
    assert (labels_problem(labels) is None) is valid


@given(st.dictionaries(st.from_regex(r"[a-z_]{1,8}", fullmatch=True), st.text(min_size=1)))
def test_equal_label_sets_have_one_stored_form_and_one_series(labels: dict[str, str]) -> None:
    reordered = dict(reversed(list(labels.items())))
    assert labels_json(labels) == labels_json(reordered)
    if labels:
        one = series_id("chat", "latency", labels_json(labels))
        assert one == series_id("chat", "latency", labels_json(reordered))
        assert one != series_id("chat", "cpu", labels_json(labels))
        assert one != series_id("chat2", "latency", labels_json(labels))
    else:
        assert series_id("chat", "latency", labels_json(labels)) is None


def test_a_final_newline_is_not_a_label_character() -> None:
    assert labels_problem({"model\n": "x"}) is not None
    assert labels_problem({"model": "x" * 256 + "\n"}) is not None
    assert labels_problem({"model": "x" * 256}) is None
