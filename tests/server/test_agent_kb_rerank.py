"""A knowledge base with the rerank step behind ``/chat``: the rerank call (the simulator's
``/v1/rerank``, priced from the registry) is one of the turn's calls and its cost is in the
turn's total; an answer from the cache costs no rerank."""

from __future__ import annotations

import shutil
from pathlib import Path

import aiohttp
import pytest

from server.config import load_settings
from simulator import SimConfig
from tests.support.gateway import run_gateway
from tests.support.simulator import run_simulator

pytestmark = pytest.mark.anyio

FIXTURES = Path(__file__).parents[1] / "fixtures" / "kb_docs"
CONFIG = """
[agents]
default = "handbook"

[[agents.definitions]]
name = "handbook"
prompt = "Answer from the handbook."
planner = "rules"
knowledge_bases = ["docs"]

[[agents.knowledge_bases]]
name = "docs"
paths = ["docs"]
chunk_tokens = 64
overlap_tokens = 8
rerank = { model = "rerank-lite", candidates = 8 }
"""


async def test_the_rerank_call_is_billed_under_the_turn(
    tmp_path: Path, http: aiohttp.ClientSession
) -> None:
    shutil.copytree(FIXTURES, tmp_path / "docs")
    (tmp_path / "frugal.toml").write_text(CONFIG)
    async with run_simulator(SimConfig()) as sim:
        env = {
            "OPENAI_BASE_URL": f"{sim.base_url}/v1",
            "OPENAI_API_KEY": "k",
            # 1 micro-USD per token: the rerank model's price, as the registry knows it.
            "FRUGAL_COST_PRICE_OVERRIDES": "rerank-lite=1000000/0",
        }
        settings = load_settings(env, config_file=tmp_path / "frugal.toml")
        async with run_gateway(settings) as gw:
            question = {"message": "Can I return Zephyr alpaca scarves?"}
            async with http.post(f"{gw.base_url}/chat", json=question) as response:
                first = await response.json()
                assert response.status == 200, first
            async with http.post(f"{gw.base_url}/chat", json=question) as response:
                again = await response.json()
        reranks = sim.stats().requests.get("rerank")
    calls = {call["purpose"]: call for call in first["calls"]}
    assert set(calls) == {"rerank", "answer"}
    rerank = calls["rerank"]
    assert rerank["model"] == "rerank-lite" and rerank["usage"]["prompt"] > 0
    assert rerank["cost_usd_micros"] == rerank["usage"]["prompt"]
    assert first["cost_usd_micros"] == sum(call["cost_usd_micros"] for call in first["calls"])
    assert first["sources"][0] == "docs:returns.md@0"
    assert again["cache"] == "exact" and reranks == 1
