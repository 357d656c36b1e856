"""Raw samples older than the retention period are deleted in chunks; newer ones stay."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from perfpilot.metrics.retention import RetentionLoop
from tests.conftest import LiveServer


@pytest.mark.settings(retention_days=2, retention_chunk_rows=7)
async def test_old_samples_go_in_chunks_and_recent_ones_stay(live_server: LiveServer) -> None:
    s = live_server
    now = datetime.now(UTC)
    old = [now - timedelta(days=3, seconds=i) for i in range(20)]
    recent = [now - timedelta(days=1, seconds=i) for i in range(5)]
    await s.push(
        *(
            {"serviceName": "svc", "metricType": "cpu", "value": 50, "timestamp": ts.isoformat()}
            for ts in old + recent
        )
    )
    loop = s.ctx.loops["retention"]
    assert isinstance(loop, RetentionLoop)
    assert await loop.run_once() == 20  # in chunks of 7: 7 + 7 + 6
    assert await loop.run_once() == 0
    left = await s.client.get(s.api("/metrics"), params={"serviceName": "svc"}, headers=s.auth())
    assert left.json()["count"] == 5
