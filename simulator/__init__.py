"""The upstream simulator: OpenAI- and Anthropic-compatible endpoints with pacing and faults.

`frugal upstream` serves it; tests start it in-process through `tests.support.simulator`.
"""

from simulator.app import create_sim_app, make_runner, serve_simulator
from simulator.config import (
    DEFAULT_HOST,
    DEFAULT_PORT,
    SimConfig,
    add_cli_arguments,
    config_from_args,
)
from simulator.state import SIM_STATE, SimState, SimStats, StreamRecord

__all__ = [
    "DEFAULT_HOST",
    "DEFAULT_PORT",
    "SIM_STATE",
    "SimConfig",
    "SimState",
    "SimStats",
    "StreamRecord",
    "add_cli_arguments",
    "config_from_args",
    "create_sim_app",
    "make_runner",
    "serve_simulator",
]
