"""The model-driven planner end to end: the simulator receives the tool schemas, asks for
calls, Frugal runs them and asks again; every model call is billed under the turn."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import aiohttp
import msgspec
import pytest

from agent.agents import SUPPORT_AGENT_FILE
from server.config import load_settings
from tests.support.chat import UpstreamMeter, openai_env
from tests.support.cost_http import sse_data
from tests.support.gateway import run_gateway
from tests.support.simulator import RunningSimulator

pytestmark = pytest.mark.anyio

CONFIG = """
[agents]
default = "helper"
include = ["{support}"]

[[agents.definitions]]
name = "helper"
prompt = "You help Acme's customers. Use the tools."
tools = ["order_status"]
knowledge_bases = ["acme-faq"]

[[agents.definitions]]
name = "capped"
prompt = "You help Acme's customers. Use the tools."
tools = ["order_status"]
limits = {max_spend_usd_micros = 0}
"""
QUESTION = "What is the status of order 1001?"


async def test_model_calls_tools_then_answers(
    tmp_path: Path, sim: RunningSimulator, http: aiohttp.ClientSession
) -> None:
    path = tmp_path / "frugal.toml"
    path.write_text(CONFIG.replace("{support}", str(SUPPORT_AGENT_FILE)))
    async with run_gateway(load_settings(openai_env(sim), config_file=path)) as gw:
        meter = UpstreamMeter(sim)
        async with http.post(f"{gw.base_url}/chat", json={"message": QUESTION}) as response:
            body: dict[str, Any] = await response.json()
            assert response.status == 200, body
        assert body["agent"] == "helper"
        # The model asked for order_status (its name and description match the question).
        assert [t["name"] for t in body["tools"]] == ["order_status"]
        assert body["answer"].startswith("Based on order_status")
        assert meter.delta().requests == {"chat.completions": 2}
        purposes = [c["purpose"] for c in body["calls"]]
        assert purposes == ["tools", "answer"]
        assert sum(c["cost_usd_micros"] for c in body["calls"]) == body["cost_usd_micros"] > 0
        assert body["usage"]["prompt"] == sum(c["usage"]["prompt"] for c in body["calls"])

        url = f"{gw.base_url}/chat/stream?message=Where+is+my+order+status+for+1002%3F"
        async with http.get(url) as response:
            events = sse_data(await response.text())
        names = [name for name, _ in events]
        assert names[0] == "meta" and names[-1] == "done"
        call_at, result_at = names.index("tool_call"), names.index("tool_result")
        assert call_at < result_at < names.index("token")
        call = msgspec.json.decode(events[call_at][1])
        result = msgspec.json.decode(events[result_at][1])
        assert call["name"] == result["name"] == "order_status"
        assert call["call_id"] == result["call_id"] and result["ok"] is True
        assert 0 <= result["started_ms"] <= result["ended_ms"]
        done = msgspec.json.decode(events[-1][1])
        assert [c["purpose"] for c in done["calls"]] == ["tools", "answer"]

        # Spend limit reached (0): no tools are offered, the model answers at once.
        capped = {"message": QUESTION, "agent": "capped"}
        async with http.post(f"{gw.base_url}/chat", json=capped) as response:
            body = await response.json()
        assert (body["tools"], [c["purpose"] for c in body["calls"]]) == ([], ["answer"])
