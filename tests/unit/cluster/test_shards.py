"""Shards: which service goes where, a replica's fair share, and handing a shard over."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from perfpilot.cluster.ownership import fair_share
from perfpilot.cluster.shards import owner_test, shard_of
from perfpilot.engine.core import EvaluationCore
from perfpilot.engine.state_machine import Phase, RuleSpec
from perfpilot.engine.windows import Sample


@given(st.text(min_size=1, max_size=100), st.integers(min_value=1, max_value=4096))
def test_a_service_has_one_shard_in_range(name: str, shards: int) -> None:
    assert 0 <= shard_of(name, shards) < shards
    assert shard_of(name, shards) == shard_of(name, shards)


@given(st.integers(min_value=1, max_value=4096), st.integers(min_value=1, max_value=50))
def test_fair_shares_cover_every_shard_and_differ_by_at_most_one_replica_share(
    shards: int, live: int
) -> None:
    share = fair_share(shards, live)
    assert share * live >= shards  # together the replicas can hold every shard
    assert (share - 1) * live < shards  # and nobody may hold more than needed


def test_forgetting_a_shard_drops_its_services_windows_and_states_only() -> None:
    core = EvaluationCore()
    core.upsert_rule(
        RuleSpec(
            rule_id="r1",
            name="slow",
            service_name=None,
            metric="latency",
            operator="gt",
            threshold=100.0,
            duration=60.0,
        )
    )
    services = [f"svc-{i}" for i in range(20)]
    for name in services:
        core.evaluate_sample(Sample(name, "latency", 500.0, 1000.0))
    assert {pair[1] for pair in core.export_states()} == set(services)

    kept = {shard_of(services[0], 4)}
    core.forget_services(owner_test(kept, 4))

    mine = [s for s in services if shard_of(s, 4) in kept]
    assert 0 < len(mine) < len(services)
    assert {pair[1] for pair in core.export_states()} == set(mine)
    for name in services:
        state = core.state_of("r1", name)
        assert (state is not None and state.phase is Phase.PENDING) == (name in mine)
        assert (core.latest(name, "latency") is not None) == (name in mine)
