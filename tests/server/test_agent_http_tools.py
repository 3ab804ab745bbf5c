"""HTTP tools from configuration, over real sockets: the model calls several in one turn and
they overlap in time; a slow one times out and the answer still comes with its error; results
are cached per (tool, arguments, user); personal tools act for the verified user only."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import aiohttp
import msgspec
import pytest

from server.config import load_settings
from tests.support.chat import openai_env
from tests.support.cost_http import sse_data
from tests.support.gateway import RunningGateway, run_gateway
from tests.support.simulator import RunningSimulator
from tests.support.tool_server import ToolServer, run_tool_server

pytestmark = pytest.mark.anyio

ADA_KEY = "acme-ada-key-0123456789abcdef"
TEAM_KEY = "acme-team-key-0123456789abcdef"
CONFIG = """
[agents]
default = "shop"

[[agents.definitions]]
name = "shop"
prompt = "You are the shop's assistant."
tools = ["weather", "stock", "slowpoke", "plan"]
limits = {tool_timeout_s = 0.5}

[[agents.http_tools]]
name = "weather"
description = "Weather forecast for a city"
url = "{base}/weather"
parameters = {type = "object", properties = {city = {type = "string"}}}
headers = {Authorization = "Bearer ${WEATHER_TOKEN}"}
select = ["forecast.sky"]
cacheable = true
cache_ttl_s = 60

[[agents.http_tools]]
name = "stock"
description = "Stock level of a product by sku"
url = "{base}/stock/{sku}"
parameters = {type = "object", properties = {sku = {type = "string"}}, required = ["sku"]}

[[agents.http_tools]]
name = "slowpoke"
description = "Shipping estimate"
url = "{base}/slow"
timeout_s = 5

[[agents.http_tools]]
name = "plan"
description = "The customer's subscription plan"
url = "{base}/users/{user_id}/plan"
risk = "personal"
"""
QUESTION = "What is the weather forecast, the stock level and the shipping estimate?"


def settings(sim: RunningSimulator, tools: ToolServer, tmp_path: Path) -> Any:
    path = tmp_path / "frugal.toml"
    path.write_text(CONFIG.replace("{base}", tools.base_url))
    env = {
        **openai_env(sim),
        "WEATHER_TOKEN": "w-secret",
        "FRUGAL_AUTH_API_KEYS": f"acme:{TEAM_KEY},acme:{ADA_KEY}:u-1001",
    }
    return load_settings(env, config_file=path)


async def chat(
    http: aiohttp.ClientSession, gw: RunningGateway, key: str, message: str, **body: str
) -> dict[str, Any]:
    headers = {"Authorization": f"Bearer {key}"}
    payload = {"message": message, **body}
    async with http.post(f"{gw.base_url}/chat", json=payload, headers=headers) as response:
        data: dict[str, Any] = await response.json()
        assert response.status == 200, data
    return data


async def test_http_tools_fan_out_time_out_and_cache(
    tmp_path: Path, sim: RunningSimulator, http: aiohttp.ClientSession
) -> None:
    async with run_tool_server() as tools, run_gateway(settings(sim, tools, tmp_path)) as gw:
        url = f"{gw.base_url}/chat/stream?message={QUESTION}"
        async with http.get(url, headers={"Authorization": f"Bearer {TEAM_KEY}"}) as response:
            assert response.status == 200
            events = sse_data(await response.text())
        results = {
            r["name"]: r for r in (msgspec.json.decode(d) for n, d in events if n == "tool_result")
        }
        assert set(results) == {"weather", "stock", "slowpoke"}
        # Both 250 ms tools ran at once: each started before the other ended.
        (w_start, w_end), (s_start, s_end) = (
            tools.spans["/weather"][0],
            tools.spans["/stock/" + _sku(tools)][0],
        )
        assert w_start < s_end and s_start < w_end
        w, s = results["weather"], results["stock"]
        assert w["started_ms"] < s["ended_ms"] and s["started_ms"] < w["ended_ms"]
        # The slow tool hit the agent's 0.5 s cap, and the answer still came, with its error.
        assert (results["slowpoke"]["ok"], results["slowpoke"]["error"]) == (
            False,
            "timeout after 0.5 s",
        )
        text = "".join(msgspec.json.decode(d)["text"] for n, d in events if n == "token")
        assert "error: timeout after 0.5 s" in text
        assert '{"forecast.sky":"sunny"}' in text  # the selected field only
        assert events[-1][0] == "done"
        # The secret header reached the API; the slow tool's 5 s never held the turn.
        weather_headers = next(h for p, h, _ in tools.seen if p.startswith("/weather"))
        assert weather_headers["Authorization"] == "Bearer w-secret"

        # Asked again (answer cache skipped): the cacheable weather result is reused.
        body = await chat(http, gw, TEAM_KEY, QUESTION, cache="no-cache")
        traces = {t["name"]: t for t in body["tools"]}
        assert traces["weather"]["cached"] is True and traces["stock"]["cached"] is False
        assert tools.count("/weather") == 1 and tools.count("/stock") == 2


async def test_personal_tools_act_for_the_verified_user_only(
    tmp_path: Path, sim: RunningSimulator, http: aiohttp.ClientSession
) -> None:
    question = "Which subscription plan am I on?"
    async with run_tool_server() as tools, run_gateway(settings(sim, tools, tmp_path)) as gw:
        body = await chat(http, gw, TEAM_KEY, question)  # a tenant key: no verified user
        (trace,) = body["tools"]
        assert (trace["name"], trace["ok"]) == ("plan", False)
        assert "verified user" in trace["error"]
        assert tools.count("/users") == 0
        body = await chat(http, gw, ADA_KEY, question)  # a key bound to u-1001
        (trace,) = body["tools"]
        assert trace["ok"] is True
        assert list(tools.spans) == ["/users/u-1001/plan"]
        assert '"plan":"pro"' in body["answer"]


def _sku(tools: ToolServer) -> str:
    (path,) = [p for p in tools.spans if p.startswith("/stock/")]
    return path.removeprefix("/stock/")
