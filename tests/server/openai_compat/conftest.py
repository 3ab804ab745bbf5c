"""One embedded gateway per test module (simulated provider, a small body limit) and SDK clients."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from openai import AsyncOpenAI

from server.config import load_settings
from tests.server.openai_compat.support import (
    FAST_SIMULATED,
    MAX_BODY_BYTES,
)
from tests.support.gateway import RunningGateway, run_gateway


@pytest.fixture(scope="module")
def anyio_backend() -> str:
    # Module scope so the shared gateway below lives in one event loop for the whole module.
    return "asyncio"


@pytest.fixture(scope="module")
async def gateway() -> AsyncIterator[RunningGateway]:
    settings = load_settings(
        {
            **FAST_SIMULATED,
            "FRUGAL_SERVER_MAX_BODY_BYTES": str(MAX_BODY_BYTES),
            "FRUGAL_MODELS_FALLBACK": "gpt-4.1-mini",
        }
    )
    async with run_gateway(settings) as gw:
        yield gw


@pytest.fixture
async def client(gateway: RunningGateway) -> AsyncIterator[AsyncOpenAI]:
    async with AsyncOpenAI(
        base_url=f"{gateway.base_url}/v1", api_key="test-key", max_retries=0, timeout=30
    ) as c:
        yield c
