"""One model on two providers at two prices: each call is billed at the price of the
provider it was sent to, although both answer with the same model name."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from agent.types import Usage
from metrics.pricing import ModelPrice, cost_of
from server.config import load_settings
from tests.support.gateway import run_gateway
from tests.support.simulator import RunningSimulator, run_simulator

pytestmark = pytest.mark.anyio

US = ModelPrice(input=2_500_000, output=10_000_000, cached_input=1_250_000, cache_write=0)
EU = ModelPrice(input=5_000_000, output=20_000_000, cached_input=2_500_000, cache_write=0)
# (EU: the same model, dearer in that region)

CONFIG = """
[[registry.providers]]
name = "us"
kind = "openai"
base_url = "{us}/v1"
api_key_env = "US_KEY"

[[registry.providers]]
name = "eu"
kind = "openai"
base_url = "{eu}/v1"
api_key_env = "EU_KEY"

[[registry.models]]
name = "gpt-4o"
provider = "us"
price = {{input = 2500000, output = 10000000}}
fallback = ["gpt-4o-eu"]

[[registry.models]]
name = "gpt-4o-eu"
provider = "eu"
upstream_name = "gpt-4o"
price = {{input = 5000000, output = 20000000}}
"""


@pytest.fixture
async def sims() -> AsyncIterator[tuple[RunningSimulator, RunningSimulator]]:
    async with run_simulator() as us, run_simulator() as eu:
        yield us, eu


async def complete(http: aiohttp.ClientSession, base: str, model: str) -> tuple[Any, int]:
    body = {"model": model, "messages": [{"role": "user", "content": "Where is my order?"}]}
    async with http.post(f"{base}/v1/chat/completions", json=body) as response:
        assert response.status == 200, await response.text()
        return await response.json(), int(response.headers["x-frugal-cost-usd-micros"])


def price_of(answer: Any, price: ModelPrice) -> int:
    usage = answer["usage"]
    return cost_of(
        price, Usage(prompt=usage["prompt_tokens"], completion=usage["completion_tokens"])
    )


def settings_for(tmp_path: Path, us: str, eu: str) -> Any:
    config = tmp_path / "frugal.toml"
    config.write_text(CONFIG.format(us=us, eu=eu))
    env = {
        "FRUGAL_CONFIG": str(config),
        "US_KEY": "sk-us",
        "EU_KEY": "sk-eu",
        "FRUGAL_FALLBACK_MAX_ATTEMPTS": "1",
        "FRUGAL_CACHE_EXACT_ENABLED": "false",
        "FRUGAL_CACHE_SEMANTIC_ENABLED": "false",
    }
    return load_settings(env)


async def test_each_region_is_billed_at_its_own_price(
    sims: tuple[RunningSimulator, RunningSimulator], tmp_path: Path
) -> None:
    us, eu = sims
    async with (
        run_gateway(settings_for(tmp_path, us.base_url, eu.base_url)) as gw,
        aiohttp.ClientSession() as http,
    ):
        on_us, us_cost = await complete(http, gw.base_url, "gpt-4o")
        on_eu, eu_cost = await complete(http, gw.base_url, "gpt-4o-eu")
    assert on_us["model"] == on_eu["model"] == "gpt-4o"  # both providers say the same name
    assert us_cost == price_of(on_us, US) > 0
    assert eu_cost == price_of(on_eu, EU) > us_cost


async def test_a_fallback_to_the_other_region_is_billed_at_that_regions_price(
    sims: tuple[RunningSimulator, RunningSimulator], tmp_path: Path
) -> None:
    _, eu = sims
    # The US provider is down (nothing listens there): gpt-4o falls back to gpt-4o-eu.
    async with (
        run_gateway(settings_for(tmp_path, "http://127.0.0.1:9", eu.base_url)) as gw,
        aiohttp.ClientSession() as http,
    ):
        answer, cost = await complete(http, gw.base_url, "gpt-4o")
    assert answer["model"] == "gpt-4o"
    assert cost == price_of(answer, EU)
