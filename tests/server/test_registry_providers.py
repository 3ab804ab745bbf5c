"""Two OpenAI-compatible providers side by side, each a real upstream simulator."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from agent.errors import InvalidModelName, ModelNotFound
from agent.types import LLMRequest, Message
from server.config import load_settings
from server.providers import build_llm_client
from server.registry_config import build_registry
from tests.support.gateway import run_gateway
from tests.support.simulator import RunningSimulator, run_simulator

pytestmark = pytest.mark.anyio

CONFIG = """
[[registry.providers]]
name = "cloud"
kind = "openai"
base_url = "{cloud}/v1"
api_key_env = "CLOUD_KEY"

[[registry.providers]]
name = "local-vllm"
kind = "openai"
base_url = "{local}/v1"
api_key_env = "LOCAL_KEY"  # the simulator wants a key; a local vLLM would not

[[registry.models]]
name = "gpt-4o-mini"
provider = "cloud"
price = {{input = 150000, output = 600000}}

[[registry.models]]
name = "llama"
provider = "local-vllm"
upstream_name = "meta-llama/Llama-3.1-8B-Instruct"
unpriced_allowed = true
worst_case_price = {{input = 150000, output = 600000}}
fallback = ["gpt-4o-mini"]
"""


@pytest.fixture
async def sims() -> AsyncIterator[tuple[RunningSimulator, RunningSimulator]]:
    async with run_simulator() as cloud, run_simulator() as local:
        yield cloud, local


async def sim_stats(http: aiohttp.ClientSession, sim: RunningSimulator) -> Any:
    async with http.get(f"{sim.base_url}/_sim/stats") as response:
        assert response.status == 200
        return await response.json()


def ask(model: str) -> LLMRequest:
    return LLMRequest(model=model, messages=(Message("user", "How do I reset my password?"),))


async def test_each_model_reaches_its_own_provider(
    sims: tuple[RunningSimulator, RunningSimulator], tmp_path: Path
) -> None:
    cloud, local = sims
    config = tmp_path / "frugal.toml"
    config.write_text(CONFIG.format(cloud=cloud.base_url, local=local.base_url))
    settings = load_settings(
        {"FRUGAL_CONFIG": str(config), "CLOUD_KEY": "sk-cloud", "LOCAL_KEY": "sk-local"}
    )
    registry = build_registry(settings)
    async with aiohttp.ClientSession() as http:
        llm = build_llm_client(settings, http, registry)

        mini = await llm.generate(ask("gpt-4o-mini"))
        assert mini.provider == "cloud"
        cloud_stats, local_stats = await sim_stats(http, cloud), await sim_stats(http, local)
        assert sum(cloud_stats["requests"].values()) == 1
        assert sum(local_stats["requests"].values()) == 0

        llama = await llm.generate(ask("llama"))
        assert llama.provider == "local-vllm"
        assert llama.model == "meta-llama/Llama-3.1-8B-Instruct"  # as the provider reported it
        chunks = [chunk async for chunk in llm.stream(ask("llama"))]
        assert "".join(c.text for c in chunks)
        cloud_stats, local_stats = await sim_stats(http, cloud), await sim_stats(http, local)
        assert sum(cloud_stats["requests"].values()) == 1
        assert sum(local_stats["requests"].values()) == 2
        assert [s["model"] for s in local_stats["streams"]] == ["meta-llama/Llama-3.1-8B-Instruct"]


async def test_model_falls_back_along_its_chain_to_the_other_provider(
    sims: tuple[RunningSimulator, RunningSimulator], tmp_path: Path
) -> None:
    cloud, _ = sims
    config = tmp_path / "frugal.toml"
    # The local provider is down: nothing listens on its port.
    config.write_text(CONFIG.format(cloud=cloud.base_url, local="http://127.0.0.1:9"))
    env = {
        "FRUGAL_CONFIG": str(config),
        "CLOUD_KEY": "sk-cloud",
        "LOCAL_KEY": "sk-local",
        "FRUGAL_FALLBACK_MAX_ATTEMPTS": "1",
    }
    settings = load_settings(env)
    async with aiohttp.ClientSession() as http:
        llm = build_llm_client(settings, http, build_registry(settings))
        answer = await llm.generate(ask("llama"))
        assert answer.used_fallback
        assert answer.provider == "cloud"
        assert answer.model == "gpt-4o-mini"


async def test_unknown_and_malformed_models_fail_before_any_call(
    sims: tuple[RunningSimulator, RunningSimulator], tmp_path: Path
) -> None:
    cloud, local = sims
    config = tmp_path / "frugal.toml"
    config.write_text(CONFIG.format(cloud=cloud.base_url, local=local.base_url))
    settings = load_settings(
        {"FRUGAL_CONFIG": str(config), "CLOUD_KEY": "sk-cloud", "LOCAL_KEY": "sk-local"}
    )
    async with aiohttp.ClientSession() as http:
        llm = build_llm_client(settings, http, build_registry(settings))
        with pytest.raises(ModelNotFound):
            await llm.generate(ask("gpt-5"))
        with pytest.raises(InvalidModelName):
            await llm.generate(ask("gpt-4o-mini\r\nX-Injected: yes"))
        with pytest.raises(ModelNotFound):
            [chunk async for chunk in llm.stream(ask("gpt-5"))]
        assert sum((await sim_stats(http, cloud))["requests"].values()) == 0
        assert sum((await sim_stats(http, local))["requests"].values()) == 0


async def test_the_wire_says_when_a_fallback_model_answered(
    sims: tuple[RunningSimulator, RunningSimulator], tmp_path: Path
) -> None:
    # Whole answers and streams alike: the stream's headers wait for the provider's first
    # event, so the fallback is known before the first byte.
    cloud, _ = sims
    config = tmp_path / "frugal.toml"
    config.write_text(CONFIG.format(cloud=cloud.base_url, local="http://127.0.0.1:9"))
    env = {
        "FRUGAL_CONFIG": str(config),
        "CLOUD_KEY": "sk-cloud",
        "LOCAL_KEY": "sk-local",
        "FRUGAL_FALLBACK_MAX_ATTEMPTS": "1",
    }
    body = {"model": "llama", "messages": [{"role": "user", "content": "Hello there"}]}
    async with run_gateway(load_settings(env)) as gw, aiohttp.ClientSession() as http:
        url = f"{gw.base_url}/v1/chat/completions"
        for stream in (False, True):
            async with http.post(url, json={**body, "stream": stream}) as response:
                assert response.status == 200
                await response.read()
                assert response.headers["x-frugal-fallback"].startswith("gpt-4o-mini; reason=")
                assert response.headers["x-frugal-model"] == "gpt-4o-mini"
