"""Only complete answers are cached (issue 16, defect 7: a truncated answer was cached and
replayed as complete). A filtered answer and a stream cut midway are not replayed; a complete
answer to the same request is (the control). Real simulator, real gateway, exact and semantic
caches on."""

from __future__ import annotations

from typing import Any

import aiohttp
import pytest

from server.config import load_settings
from tests.support.gateway import run_gateway
from tests.support.simulator import RunningSimulator, run_simulator

pytestmark = pytest.mark.anyio

MODEL = "gpt-4o-mini"


def body(text: str, *, stream: bool = False) -> dict[str, Any]:
    return {
        "model": MODEL,
        "temperature": 0,
        "stream": stream,
        "messages": [{"role": "user", "content": text}],
    }


def provider_calls(sim: RunningSimulator) -> int:
    return sum(sim.stats().requests.values())


async def post(http: aiohttp.ClientSession, base: str, payload: dict[str, Any]) -> str:
    async with http.post(f"{base}/v1/chat/completions", json=payload) as response:
        await response.read()
        return response.headers.get("x-frugal-cache", "miss")


async def test_filtered_and_cut_answers_are_not_replayed_complete_ones_are() -> None:
    async with run_simulator() as sim:
        settings = load_settings({"OPENAI_BASE_URL": f"{sim.base_url}/v1", "OPENAI_API_KEY": "k"})
        async with run_gateway(settings) as gw, aiohttp.ClientSession() as http:
            # filtered: the simulator answers FILTER_ME with finish_reason content_filter
            for _ in range(2):
                cache = await post(http, gw.base_url, body("FILTER_ME what is your refund policy"))
                assert cache == "miss"
            assert provider_calls(sim) == 2

            # cut midway, then asked again whole: the provider answers again
            question = "Describe the premium plan and its delivery options."
            async with http.put(
                f"{sim.base_url}/_sim/faults", json={"model": MODEL, "fault": "disconnect"}
            ) as response:
                assert response.status == 200
            await post(http, gw.base_url, body(question, stream=True))
            async with http.put(
                f"{sim.base_url}/_sim/faults", json={"model": MODEL, "fault": None}
            ) as response:
                assert response.status == 200
            before = provider_calls(sim)
            assert await post(http, gw.base_url, body(question)) == "miss"
            assert provider_calls(sim) == before + 1

            # the control: that complete answer is replayed, without the provider
            assert await post(http, gw.base_url, body(question)) == "exact"
            assert provider_calls(sim) == before + 1
