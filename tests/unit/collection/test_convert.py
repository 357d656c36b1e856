"""Source points -> collected samples: mapping, labels, cumulative -> interval values."""

from __future__ import annotations

import pytest

from perfpilot.collection.convert import ConvertOptions, SourcePoint, convert_points
from perfpilot.collection.cumulative import CumulativeState
from perfpilot.collection.mapping import MappingTable, builtin_table

T0 = 1_800_000_000.0


def _options(**kwargs: object) -> ConvertOptions:
    return ConvertOptions(table=builtin_table(), **kwargs)  # type: ignore[arg-type]


def test_every_builtin_entry_is_valid_and_names_are_unique() -> None:
    table = builtin_table()
    assert table.lookup("vllm:generation_tokens_total") is not None
    assert table.lookup("vllm:generation_tokens") is not None  # the parser drops _total
    assert table.lookup("vllm:gpu_cache_usage_perc") is table.lookup("vllm:kv_cache_usage_perc")
    assert table.for_preset("vllm").lookup("tgi_queue_size") is None


def test_a_name_mapped_twice_is_refused() -> None:
    text = """
[[metric]]
names = ["a"]
type = "latency"
kind = "gauge"
[[metric]]
names = ["a"]
type = "cpu"
kind = "gauge"
"""
    with pytest.raises(ValueError, match="mapped twice"):
        MappingTable.load(text)


def test_cumulative_counter_becomes_a_rate_from_the_second_report() -> None:
    state = CumulativeState()
    options = _options()

    def report(t: float, total: float) -> list[float | None]:
        point = SourcePoint(
            "chat", "vllm:request_success_total", {"model_name": "m"}, "counter", t, 0.0, total
        )
        return [s.value for s in convert_points([point], state, options).samples]

    assert report(T0, 100) == []  # no start time: primes
    assert report(T0 + 30, 160) == [2.0]  # 60 requests in 30 s
    assert report(T0 + 60, 10) == [pytest.approx(10 / 30)]  # reset: counts from zero


def test_known_start_time_makes_the_first_report_an_increase_from_zero() -> None:
    state = CumulativeState()
    point = SourcePoint("chat", "vllm:generation_tokens_total", {}, "counter", T0 + 10, T0, 500.0)
    [sample] = convert_points([point], state, _options()).samples
    assert sample.metric_type == "tokens_per_second"
    assert sample.value == 50.0
    assert sample.interval_seconds == 10.0


def test_a_new_start_time_is_a_reset() -> None:
    state = CumulativeState()
    options = _options()
    name = "vllm:generation_tokens_total"
    convert_points([SourcePoint("s", name, {}, "counter", T0 + 10, T0, 500.0)], state, options)
    restarted = SourcePoint("s", name, {}, "counter", T0 + 40, T0 + 30, 900.0)
    [sample] = convert_points([restarted], state, options).samples
    assert sample.value == 90.0  # 900 since the restart 10 s earlier, not 400 in 30 s


def test_histogram_buckets_become_interval_deltas_with_labels() -> None:
    state = CumulativeState()
    options = _options()
    name = "gen_ai.server.time_to_first_token"
    attrs = {"gen_ai.request.model": "llama", "gen_ai.operation.name": "chat", "server.port": "1"}

    def report(t: float, counts: tuple[float, ...], total: float) -> SourcePoint:
        return SourcePoint(
            "chat", name, attrs, "histogram", t, T0, total, (0.1, 0.5), counts, sum(counts), "s"
        )

    first = convert_points([report(T0 + 10, (1, 1, 0), 0.4)], state, options).samples
    [second] = convert_points([report(T0 + 20, (1, 4, 1), 2.2)], state, options).samples
    assert first[0].histogram is not None and first[0].histogram.counts == [1, 1, 0]
    assert second.metric_type == "ttft"
    assert second.labels == {"model": "llama", "operation": "chat", "server_port": "1"}
    assert second.histogram is not None
    assert second.histogram.bounds == [0.1, 0.5]
    assert second.histogram.counts == [0, 3, 1]
    assert second.histogram.count == 4
    assert second.histogram.sum == pytest.approx(1.8)
    assert second.interval_seconds == 10.0
    assert second.unit == "s"


def test_token_usage_splits_by_token_type_into_interval_sums() -> None:
    state = CumulativeState()
    name = "gen_ai.client.token.usage"
    points = [
        SourcePoint(
            "chat",
            name,
            {"gen_ai.token.type": kind, "gen_ai.request.model": "m"},
            "histogram",
            T0 + 5,
            T0,
            total,
            (100.0,),
            (1.0, 1.0),
            2.0,
        )
        for kind, total in (("input", 300.0), ("output", 80.0))
    ]
    samples = convert_points(points, state, _options()).samples
    assert {(s.metric_type, s.value) for s in samples} == {
        ("input_tokens", 300.0),
        ("output_tokens", 80.0),
    }
    assert all(s.labels == {"model": "m"} for s in samples)


def test_unmapped_names_are_counted_not_fatal() -> None:
    state = CumulativeState()
    points = [
        SourcePoint("s", "http.server.duration", {}, "number", T0, 0.0, 1.0),
        SourcePoint("s", "http.server.duration", {"a": "b"}, "number", T0, 0.0, 1.0),
        SourcePoint("s", "vllm:num_requests_waiting", {}, "number", T0, 0.0, 3.0),
    ]
    out = convert_points(points, state, _options())
    assert [(s.metric_type, s.value) for s in out.samples] == [("queue_depth", 3.0)]
    assert out.rejected == 2
    assert out.unmapped == {"http.server.duration": 2}
    assert "http.server.duration" in out.reasons[0]


def test_ratio_divides_by_the_denominators_of_the_same_labels() -> None:
    state = CumulativeState()
    options = _options()

    def scrape(t: float, ok: float, failed: float) -> list[tuple[str, float | None]]:
        points = [
            SourcePoint("tr", "nv_inference_request_success", {"model": "r"}, "counter", t, 0, ok),
            SourcePoint(
                "tr", "nv_inference_request_failure", {"model": "r"}, "counter", t, 0, failed
            ),
        ]
        return sorted(
            (s.metric_type, s.value) for s in convert_points(points, state, options).samples
        )

    assert scrape(T0, 100, 0) == []
    assert scrape(T0 + 10, 190, 10) == [("error_rate", 0.1), ("throughput", 9.0)]


def test_a_label_over_the_limits_rejects_the_point_and_names_it() -> None:
    state = CumulativeState()
    point = SourcePoint("s", "vllm:num_requests_waiting", {"x": "v" * 300}, "number", T0, 0, 1)
    out = convert_points([point], state, _options())
    assert out.samples == []
    assert out.rejected == 1
    assert "labels.x" in out.reasons[0]


def test_target_labels_and_preset_renames_apply() -> None:
    table = builtin_table()
    options = ConvertOptions(
        table=table.for_preset("vllm"),
        preset=table.preset_labels("vllm"),
        extra_labels={"region": "eu"},
        key_prefix="t1",
    )
    point = SourcePoint("s", "vllm:num_requests_running", {"model_name": "m"}, "number", T0)
    [sample] = convert_points([point], CumulativeState(), options).samples
    assert sample.labels == {"model": "m", "region": "eu"}


def test_state_is_bounded() -> None:
    state = CumulativeState(max_series=2)
    for i in range(5):
        state.counter(("k", i), start=0, time=T0, value=1)
    assert len(state) == 2
