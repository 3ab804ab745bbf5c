"""Budget holds and bills by model over HTTP (issue 16, defects 1 and 2): a hold covers the
dearest model a request's fallback chain may reach, and a model served without a price is
billed (and held) at its worst-case price, never recorded as 0."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import aiohttp
import pytest

from server.config import load_settings
from tests.support.cost_http import stats_of
from tests.support.gateway import run_gateway
from tests.support.simulator import run_simulator

pytestmark = pytest.mark.anyio

CONFIG = """
[[registry.providers]]
name = "cloud"
kind = "openai"
base_url = "{url}/v1"
api_key_env = "CLOUD_KEY"

[[registry.models]]
name = "gpt-4o-mini"
provider = "cloud"
price = {{input = 150000, output = 600000}}
fallback = {fallback}

[[registry.models]]
name = "gpt-4o"
provider = "cloud"
price = {{input = 2500000, output = 10000000}}

[[registry.models]]
name = "house-model"
provider = "cloud"
upstream_name = "house-llm"
unpriced_allowed = true
worst_case_price = {{input = 2500000, output = 10000000}}
"""
# A ~10-token prompt with max_tokens 200: a gpt-4o-mini hold is ~120 micro-USD, a gpt-4o one
# ~2,030. The cap admits the first and not the second.
CAP = 1_000
BODY = {"messages": [{"role": "user", "content": "How do I reset my password?"}], "max_tokens": 200}


async def post(http: aiohttp.ClientSession, base: str, model: str) -> tuple[int, Any]:
    async with http.post(f"{base}/v1/chat/completions", json={**BODY, "model": model}) as response:
        return response.status, await response.json()


async def gateway_settings(tmp_path: Path, url: str, fallback: str, cap: int) -> Any:
    config = tmp_path / "frugal.toml"
    config.write_text(CONFIG.format(url=url, fallback=fallback))
    return load_settings(
        {
            "FRUGAL_CONFIG": str(config),
            "CLOUD_KEY": "sk-cloud",
            "FRUGAL_CACHE_EXACT_ENABLED": "false",
            "FRUGAL_CACHE_SEMANTIC_ENABLED": "false",
            "FRUGAL_BUDGET_GLOBAL_DAILY_USD_MICROS": str(cap),
        }
    )


class TestFallbackChainHold:
    @pytest.mark.parametrize(("fallback", "status"), [("[]", 200), ('["gpt-4o"]', 503)])
    async def test_the_hold_covers_the_dearest_model_the_chain_reaches(
        self, tmp_path: Path, fallback: str, status: int
    ) -> None:
        async with run_simulator() as sim:
            settings = await gateway_settings(tmp_path, sim.base_url, fallback, CAP)
            async with run_gateway(settings) as gw, aiohttp.ClientSession() as http:
                got, body = await post(http, gw.base_url, "gpt-4o-mini")
        assert got == status, body
        if status == 503:  # the chain could end on gpt-4o, whose hold does not fit
            assert body["error"]["code"] == "budget_exceeded"


class TestUnpricedModel:
    async def test_is_billed_and_held_at_its_worst_case_price(self, tmp_path: Path) -> None:
        async with run_simulator() as sim:
            settings = await gateway_settings(tmp_path, sim.base_url, "[]", 1_000_000)
            async with run_gateway(settings) as gw, aiohttp.ClientSession() as http:
                got, body = await post(http, gw.base_url, "house-model")
                stats = await stats_of(http, gw.base_url)
        assert got == 200
        usage = body["usage"]
        # priced at the worst case (gpt-4o's prices), rounded up once per call
        expected = -(
            -(usage["prompt_tokens"] * 2_500_000 + usage["completion_tokens"] * 10_000_000)
            // 1_000_000
        )
        assert stats["cost_usd_micros"] == expected > 0
        [window] = stats["budget"]
        assert window["spent_usd_micros"] == expected and window["reserved_usd_micros"] == 0
