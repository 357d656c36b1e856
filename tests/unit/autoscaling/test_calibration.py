"""The steady service rate model sizing keeps across a change of instances (calibration.py)."""

from __future__ import annotations

from perfpilot.autoscaling.calibration import Calibration
from perfpilot.sizing.erlang import QueueModel

WINDOW = 60.0


def test_steady_only_once_the_count_has_held_for_a_whole_window() -> None:
    c = Calibration()
    assert not c.steady("s", instances=2, now=0.0, window=WINDOW)  # first sight
    assert not c.steady("s", instances=2, now=55.0, window=WINDOW)
    assert c.steady("s", instances=2, now=60.0, window=WINDOW)
    assert not c.steady("s", instances=4, now=65.0, window=WINDOW)  # a scale-up restarts it
    assert not c.steady("s", instances=4, now=120.0, window=WINDOW)
    assert c.steady("s", instances=4, now=125.0, window=WINDOW)
    assert c.steady("other", instances=4, now=125.0, window=WINDOW) is False


def test_remembers_the_last_steady_model_per_service() -> None:
    c = Calibration()
    assert c.get("s") is None
    first = QueueModel(4.0, 5.0, "fixed", 1.0)
    c.remember("s", first, instances=2, at=60.0)
    c.remember("s", QueueModel(4.0, 4.5, "fixed", 1.1), instances=2, at=120.0)
    kept = c.get("s")
    assert kept is not None
    assert (kept.model.service_rate, kept.instances, kept.at) == (4.5, 2, 120.0)
    c.forget("s")
    assert c.get("s") is None
