"""A stream that fails before its first token costs nothing (issue 16, defect 3: such streams
were charged their estimated prompt, and a streamed request the provider refused with a 400
was billed while the same request without streaming was not). Real simulator, real gateway."""

from __future__ import annotations

from typing import Any

import aiohttp
import pytest

from server.config import load_settings
from simulator import SimConfig
from tests.support.cost_http import stats_of
from tests.support.gateway import run_gateway
from tests.support.simulator import run_simulator

pytestmark = pytest.mark.anyio

MODEL = "gpt-4o-mini"


async def ask(http: aiohttp.ClientSession, base: str, *, stream: bool) -> tuple[int, str]:
    body = {
        "model": MODEL,
        "stream": stream,
        "messages": [{"role": "user", "content": "Where is my parcel? " + "detail " * 40}],
    }
    async with http.post(f"{base}/v1/chat/completions", json=body) as response:
        return response.status, await response.text()


@pytest.mark.parametrize(
    "config",
    [
        SimConfig(faults_by_model={MODEL: "early_disconnect"}),  # cut before the first token
        SimConfig(context_windows={MODEL: 10}),  # the provider refuses the prompt: a 400
    ],
    ids=["cut_before_first_token", "refused_with_400"],
)
async def test_a_stream_that_never_produced_a_token_costs_nothing(config: SimConfig) -> None:
    async with run_simulator(config) as sim:
        settings = load_settings(
            {
                "OPENAI_BASE_URL": f"{sim.base_url}/v1",
                "OPENAI_API_KEY": "k",
                "FRUGAL_CACHE_EXACT_ENABLED": "false",
                "FRUGAL_CACHE_SEMANTIC_ENABLED": "false",
                "FRUGAL_FALLBACK_MAX_ATTEMPTS": "1",
            }
        )
        async with run_gateway(settings) as gw, aiohttp.ClientSession() as http:
            outcomes = [await ask(http, gw.base_url, stream=s) for s in (True, False)]
            stats: dict[str, Any] = await stats_of(http, gw.base_url)
    for status, text in outcomes:
        assert status >= 400 or '"error"' in text  # every attempt failed, streamed or not
    assert stats["cost_usd_micros"] == 0
    assert all(row["cost_usd_micros"] == 0 for row in stats["by_model"].values())
