"""`AppState`: what request handlers reach through ``request.app.state.frugal``."""

from __future__ import annotations

from dataclasses import dataclass

import aiohttp

from server.composition import Components
from server.settings import Settings


@dataclass
class AppState:
    """What request handlers reach through ``request.app.state.frugal``."""

    settings: Settings
    components: Components
    session: aiohttp.ClientSession
