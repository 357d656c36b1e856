"""A simulated LLM service that pushes its metrics to Perfpilot and follows its desired state.

`perfpilot simulate` runs one from the command line; `perfpilot serve --demo` runs one in the
server's process. model.py states the behaviour (an M/M/c/K queue per model), profiles.py the
traffic, actuator.py how the service converges to its desired state, run.py the loop and its
clock (time-compressed runs happen in the past), client.py and webhook.py the HTTP sides.
"""

from perfpilot.simulator.model import MODELS, ModelSpec
from perfpilot.simulator.profiles import DailyWave, Spike, Steady, make_profile
from perfpilot.simulator.run import (
    SimClock,
    Simulation,
    SimulationConfig,
    SimulationSummary,
    simulate,
)

__all__ = [
    "MODELS",
    "DailyWave",
    "ModelSpec",
    "SimClock",
    "Simulation",
    "SimulationConfig",
    "SimulationSummary",
    "Spike",
    "Steady",
    "make_profile",
    "simulate",
]
