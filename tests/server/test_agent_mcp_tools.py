"""An MCP server (stdio, the official SDK) and an HTTP tool in one model-driven turn: both
are offered with their schemas, called at once (their recorded times overlap), and billed."""

from __future__ import annotations

import contextlib
import sys
from pathlib import Path

import aiohttp
import msgspec
import pytest

from agent.agents import AgentsConfig, open_toolbox
from agent.tools import ToolCall, ToolRegistry, run_tools_concurrently
from agent.tools.mcp_tools import McpServerSpec, open_mcp_server
from server.config import load_settings
from tests.agent.pipeline.support import HashingEmbedder
from tests.support.chat import openai_env
from tests.support.cost_http import sse_data
from tests.support.gateway import run_gateway
from tests.support.simulator import RunningSimulator
from tests.support.tool_server import run_tool_server

pytestmark = pytest.mark.anyio

SERVER = Path(__file__).parents[1] / "support" / "mcp_inventory_server.py"
CONFIG = f"""
[agents]
default = "ops"

[[agents.definitions]]
name = "ops"
prompt = "You answer questions about stock."
tools = ["stock", "warehouse.*"]

[[agents.http_tools]]
name = "stock"
description = "Stock level of a product by sku"
url = "{{base}}/stock/{{sku}}"
parameters = {{type = "object", properties = {{sku = {{type = "string"}}}}, required = ["sku"]}}

[[agents.mcp_servers]]
name = "warehouse"
command = "{sys.executable}"
args = ["{SERVER}"]
"""


async def test_mcp_and_http_tools_run_concurrently_in_one_turn(
    tmp_path: Path, sim: RunningSimulator, http: aiohttp.ClientSession
) -> None:
    async with run_tool_server() as tools:
        path = tmp_path / "frugal.toml"
        path.write_text(CONFIG.replace("{base}", tools.base_url))
        async with run_gateway(load_settings(openai_env(sim), config_file=path)) as gw:
            question = "What is the stock level and the warehouse inventory of sku 42?"
            async with http.get(f"{gw.base_url}/chat/stream?message={question}") as response:
                assert response.status == 200
                events = sse_data(await response.text())
    calls = [msgspec.json.decode(d) for n, d in events if n == "tool_call"]
    results = {
        r["name"]: r for r in (msgspec.json.decode(d) for n, d in events if n == "tool_result")
    }
    assert {c["name"] for c in calls} == {"stock", "inventory"}
    stock, inventory = results["stock"], results["inventory"]
    assert stock["ok"] and inventory["ok"], results
    # Each 250 ms tool started before the other ended.
    assert stock["started_ms"] < inventory["ended_ms"]
    assert inventory["started_ms"] < stock["ended_ms"]
    text = "".join(msgspec.json.decode(d)["text"] for n, d in events if n == "token")
    assert "12 units in the warehouse" in text
    done = msgspec.json.decode(events[-1][1])
    assert [c["purpose"] for c in done["calls"]] == ["tools", "answer"]


async def test_mcp_tools_list_with_schemas_and_errors_become_results() -> None:
    spec = McpServerSpec("warehouse", command=sys.executable, args=(str(SERVER),))
    async with open_mcp_server(spec) as tools:
        by_name = {t.name: t for t in tools}
        assert set(by_name) == {"inventory", "fail"}
        assert by_name["inventory"].parameters["required"] == ["sku"]
        registry = ToolRegistry(tools)
        ok, failed = await run_tools_concurrently(
            registry,
            [ToolCall("inventory", {"sku": "7"}, "a"), ToolCall("fail", {"reason": "x"}, "b")],
        )
    assert ok.ok and ok.output is not None and "sku 7: 12 units" in ok.output.content
    assert not failed.ok and "failing on purpose" in (failed.error or "")


async def test_a_server_that_cannot_start_is_named_at_start_up() -> None:
    config = AgentsConfig(
        mcp_servers=(McpServerSpec("broken", command="/bin/false", startup_timeout_s=5),)
    )
    async with aiohttp.ClientSession() as session, contextlib.AsyncExitStack() as stack:
        with pytest.raises(ValueError, match="MCP server 'broken' cannot start"):
            await open_toolbox(config, embedder=HashingEmbedder(), session=session, stack=stack)
