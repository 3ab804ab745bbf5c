"""`AppState`: what request handlers reach through ``request.app.state.frugal``."""

from __future__ import annotations

from dataclasses import dataclass

import aiohttp
from starlette.requests import HTTPConnection

from agent.batch import BatchLane
from server.composition import Components
from server.settings import Settings


@dataclass
class AppState:
    """What request handlers reach through ``request.app.state.frugal``."""

    settings: Settings
    components: Components
    session: aiohttp.ClientSession
    batch: BatchLane | None = None


def app_state(request: HTTPConnection) -> AppState:
    """The app's state, typed (what the lifespan stored on ``app.state.frugal``)."""
    state = request.app.state.frugal
    if not isinstance(state, AppState):
        raise RuntimeError("the app's lifespan has not run")
    return state
