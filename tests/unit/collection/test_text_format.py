"""The fast text-format parser gives what prometheus_client's parser gives, on the same bodies."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from prometheus_client import (
    CollectorRegistry,
    Counter,
    Enum,
    Gauge,
    Histogram,
    Info,
    Summary,
    generate_latest,
)
from prometheus_client.parser import text_string_to_metric_families

from perfpilot.collection import text_format
from perfpilot.collection.text_format import metric_families

Shown = list[tuple[str, str, list[tuple[str, dict[str, str], str]]]]


def _reference(text: str) -> Shown | type[BaseException]:
    try:
        families = list(text_string_to_metric_families(text))
    except (ValueError, IndexError, KeyError) as exc:
        return type(exc)
    return [
        (f.name, f.type, [(s.name, s.labels, _shown(float(s.value))) for s in f.samples])
        for f in families
    ]


def _ours(text: str) -> Shown | type[BaseException]:
    try:
        families = metric_families(text)
    except (ValueError, IndexError, KeyError) as exc:
        return type(exc)
    return [
        (f.name, f.type, [(n, labels, _shown(v)) for n, labels, v in f.samples]) for f in families
    ]


def _shown(value: float) -> str:
    return "nan" if math.isnan(value) else repr(value)  # NaN != NaN


def _common(text: str) -> bool:
    """Whether the body takes the fast path (no fallback to prometheus_client)."""
    try:
        list(text_format._common_families(text))
    except text_format._Uncommon:
        return False
    return True


def _registry_body() -> str:
    registry = CollectorRegistry()
    c = Counter(
        "vllm:request_success", "Finished", ["model_name", "finished_reason"], registry=registry
    )
    c.labels("m, {1}", "stop").inc(3)
    c.labels("m2", "length").inc(1.5)
    Counter("plain_total", "no labels", registry=registry).inc()
    g = Gauge("vllm:num_requests_waiting", "Waiting", ["model_name"], registry=registry)
    g.labels("m # x").set(-2.5)
    g.labels("inf").set(math.inf)
    h = Histogram("vllm:e2e_request_latency_seconds", "e2e", ["model_name"], registry=registry)
    for v in (0.01, 0.3, 2.0, 40.0):
        h.labels("m").observe(v)
    Summary("rpc_seconds", "rpc", registry=registry).observe(0.2)
    Info("build", "build info", registry=registry).info({"version": "1.0"})
    Enum("state", "state", states=["a", "b"], registry=registry).state("b")
    return generate_latest(registry).decode()


BODIES = {
    "client": _registry_body(),
    "vllm stub": (
        "# HELP vllm:num_requests_running Running.\n# TYPE vllm:num_requests_running gauge\n"
        'vllm:num_requests_running{model_name="m",engine="0"} 3\n'
        "# TYPE vllm:generation_tokens_total counter\n"
        'vllm:generation_tokens_total{model_name="m"} 9000 1700000000000\n'
        "# TYPE ttft histogram\n"
        'ttft_bucket{le="0.1"} 1\nttft_bucket{le="+Inf"} 3\nttft_count 3\nttft_sum 1.5\n'
    ),
    "counter without _total": "# TYPE reqs counter\nreqs 5\nreqs_total 6\n",
    "help only, then a stray sample": '# HELP a doc\na 1\nb{x="1",} 2\n\n  c 3  \n',
    "type repeated": "# TYPE a gauge\na 1\n# TYPE a counter\na 2\n# TYPE b untyped\nb NaN\n",
    "other comments": '# just a comment\n#TYPE x gauge\n# HELP m doc with "quotes"\nm{} -Inf\n',
    "values": "a 1e3\nb +Inf\nc -0\nd 0x1\n",
    "underscore value": "a 1_000\n",
    "escaped label": 'a{x="q\\"uote",y="n\\\\l"} 1\n',
    "quoted name": '{"a.b"} 1\n',
    "exemplar": 'a_total{x="1"} 1 # {trace_id="t"} 1\n',
    "tab": "a\t1\n",
    "two spaces": "a  1\n",
    "three values": "a 1 2 3\n",
    "duplicate label": 'a{x="1",x="2"} 1\n',
    "reserved label": 'a{__x="1"} 1\n',
    "name label": 'a{__name__="b"} 1\n',
    "bad type": "# TYPE a nonsense\na 1\n",
    "short type": "# TYPE a\na 1\n",
    "bad timestamp": "a 1 x\n",
    "garbage": "<html>hello</html>\n",
    "carriage returns": '# TYPE a gauge\r\na 1\r\nb{x="\u2028"} 2\n',
}


@pytest.mark.parametrize("body", BODIES.values(), ids=BODIES.keys())
def test_same_families_or_same_error_as_prometheus_client(body: str) -> None:
    assert _ours(body) == _reference(body)


def test_common_expositions_take_the_fast_path() -> None:
    for name in ("client", "vllm stub", "counter without _total", "type repeated"):
        assert _common(BODIES[name]), name
    assert not _common(BODIES["escaped label"])


token = st.sampled_from(
    ["a", "a_total", "a_bucket", "a_sum", "a_count", "b", "_total", "1a", "", "a:b", "__name__"]
)
label = st.tuples(st.sampled_from(["x", "le", "__r", "1", "y"]), st.text('ab,= {}#"\\', max_size=4))
value = st.sampled_from(["1", "2.5", "NaN", "+Inf", "-1e3", "0x1", "1_0", "", "nan", "7"])
sample_line = st.builds(
    lambda name, labels, v, ts, sep: (
        name
        + ("{" + ",".join(f'{k}="{x}"' for k, x in labels) + "}" if labels is not None else "")
        + sep
        + v
        + (f" {ts}" if ts else "")
    ),
    token,
    st.one_of(st.none(), st.lists(label, max_size=3)),
    value,
    st.sampled_from(["", "123", "x"]),
    st.sampled_from([" ", " ", "  ", "\t"]),
)
comment_line = st.builds(
    lambda kind, name, rest: f"# {kind} {name} {rest}".strip(),
    st.sampled_from(["TYPE", "HELP", "foo", ""]),
    token,
    st.sampled_from(["counter", "gauge", "histogram", "summary", "untyped", "info", "x", "", "d"]),
)


@settings(max_examples=400, deadline=None)
@given(st.lists(st.one_of(sample_line, comment_line, st.just("")), max_size=8))
def test_any_body_parses_as_prometheus_client_parses_it(lines: list[str]) -> None:
    body = "\n".join(lines)
    assert _ours(body) == _reference(body)
