"""Runs the upstream simulator in the test's event loop on a free loopback port."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

from aiohttp import web

from simulator import (
    SIM_STATE,
    SimConfig,
    SimState,
    SimStats,
    create_sim_app,
    make_runner,
)


@dataclass
class RunningSimulator:
    """A live simulator: point clients at ``base_url`` (no ``/v1`` suffix)."""

    base_url: str
    config: SimConfig
    app: web.Application

    @property
    def state(self) -> SimState:
        return self.app[SIM_STATE]

    def stats(self) -> SimStats:
        """The current counters (same data as ``GET /_sim/stats``)."""
        return self.state.snapshot()

    def reset(self) -> None:
        self.state.reset()


@asynccontextmanager
async def run_simulator(config: SimConfig | None = None) -> AsyncIterator[RunningSimulator]:
    """Start the simulator on 127.0.0.1, port 0, and stop it on exit."""
    config = config or SimConfig()
    app = create_sim_app(config)
    runner = make_runner(app, shutdown_timeout=0.5)
    await runner.setup()
    try:
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = int(runner.addresses[0][1])
        yield RunningSimulator(f"http://127.0.0.1:{port}", config, app)
    finally:
        await runner.cleanup()
