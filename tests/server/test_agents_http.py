"""Named agents over HTTP: ``/chat?agent=``, the body's ``agent``, ``/chat/stream``, the
tenant default, unknown names (404), and answers cached per agent definition."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import aiohttp
import pytest

from agent.agents import SUPPORT_AGENT_FILE
from server.config import load_settings
from tests.support.cost_http import FAST_SIMULATED, sse_data
from tests.support.gateway import RunningGateway, run_gateway

pytestmark = pytest.mark.anyio

CONFIG = """
[agents]
default = "support"
include = ["{support}"]

[[agents.definitions]]
name = "terse"
prompt = "Answer in one short sentence."
planner = "rules"
knowledge_bases = ["acme-faq"]
"""
QUESTION = "How do I track my order?"


async def chat(
    http: aiohttp.ClientSession, gw: RunningGateway, path: str = "/chat", **body: Any
) -> tuple[int, dict[str, Any]]:
    async with http.post(f"{gw.base_url}{path}", json=body) as response:
        return response.status, await response.json()


async def test_agents_are_chosen_by_name_and_cached_apart(
    tmp_path: Path, http: aiohttp.ClientSession
) -> None:
    path = tmp_path / "frugal.toml"
    path.write_text(CONFIG.replace("{support}", str(SUPPORT_AGENT_FILE)))
    async with run_gateway(load_settings(FAST_SIMULATED, config_file=path)) as gw:
        status, body = await chat(http, gw, message=QUESTION)
        assert (status, body["agent"], body["cache"]) == (200, "support", None)
        assert [c["purpose"] for c in body["calls"]] == ["answer"]
        assert body["calls"][0]["cost_usd_micros"] == body["cost_usd_micros"]
        # Another definition never serves the support agent's cached answer.
        status, body = await chat(http, gw, "/chat?agent=terse", message=QUESTION)
        assert (status, body["agent"], body["cache"]) == (200, "terse", None)
        status, body = await chat(http, gw, message=QUESTION, agent="terse")
        assert (body["agent"], body["cache"]) == ("terse", "exact")
        status, body = await chat(http, gw, message=QUESTION, agent="nobody")
        assert (status, body["error"]["code"]) == (404, "not_found")
        url = f"{gw.base_url}/chat/stream?message=Do+you+ship+to+Canada%3F&agent=terse"
        async with http.get(url) as response:
            events = sse_data(await response.text())
        names = [name for name, _ in events]
        assert names[0] == "meta" and names[-1] == "done"
        assert '"agent":"terse"' in events[-1][1]
