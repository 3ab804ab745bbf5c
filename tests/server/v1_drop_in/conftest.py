"""One simulator-backed gateway and one embedded gateway per test module, SDK and HTTP clients."""

from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp
import pytest
from openai import AsyncOpenAI

from server.config import load_settings
from tests.server.v1_drop_in.support import (
    FAST_SIMULATED,
)
from tests.support.gateway import RunningGateway, run_gateway
from tests.support.v1 import (
    SimGateway,
    sim_gateway,
)


@pytest.fixture(scope="module")
def anyio_backend() -> str:
    # Module scope so the shared gateways below live in one event loop for the whole module.
    return "asyncio"


@pytest.fixture(scope="module")
async def gw() -> AsyncIterator[SimGateway]:
    async with sim_gateway() as running:
        yield running


@pytest.fixture(scope="module")
async def simulated_gateway() -> AsyncIterator[RunningGateway]:
    """The default gateway: no provider configured, answers and embeddings simulated."""
    async with run_gateway(load_settings(FAST_SIMULATED)) as running:
        yield running


@pytest.fixture
async def client(gw: SimGateway) -> AsyncIterator[AsyncOpenAI]:
    async with gw.client() as c:
        yield c


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session
