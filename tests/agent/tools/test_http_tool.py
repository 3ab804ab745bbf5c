"""`HttpTool` against a local API: URL templates, selected fields, errors, and the risk
policy (write tools need the agent's allow-list; personal ones a verified user)."""

from __future__ import annotations

import json

import aiohttp
import pytest

from agent.agents import AgentSpec, Toolbox, blueprint
from agent.tools import ToolCall, run_tools_concurrently
from agent.tools.http_tool import HttpTool, HttpToolSpec
from tests.support.tool_server import run_tool_server

pytestmark = pytest.mark.anyio


def toolbox(base: str, session: aiohttp.ClientSession) -> Toolbox:
    box = Toolbox()
    specs = [
        HttpToolSpec("refund", "Refund an order", f"{base}/refunds", method="POST", risk="write"),
        HttpToolSpec("plan", "Plan", f"{base}/users/{{user_id}}/plan", risk="personal"),
        HttpToolSpec("broken", "Broken", f"{base}/nowhere"),
    ]
    for spec in specs:
        box.add(HttpTool(spec, session), spec.risk)
    return box


async def test_write_tools_need_the_allow_list_and_act_for_the_verified_user() -> None:
    async with run_tool_server() as server, aiohttp.ClientSession() as session:
        box = toolbox(server.base_url, session)
        spec = AgentSpec("a", tools=("refund", "plan", "broken"))
        closed = blueprint(spec, box, allowed_risky=(), max_iterations=4).tools
        assert [s["function"]["name"] for s in closed.schemas()] == ["plan", "broken"]
        call = ToolCall("refund", {"order_id": "1001", "user_id": "u-evil"}, "c1", "u-1001")
        (refused,) = await run_tools_concurrently(closed, [call])
        assert (refused.ok, refused.error) == (False, "not_allowed")
        assert server.seen == []

        allowed = AgentSpec("a", tools=("refund", "plan"), allow_write=("refund",))
        registry = blueprint(allowed, box, allowed_risky=(), max_iterations=4).tools
        anonymous = ToolCall("plan", {}, "c2")
        done, nobody = await run_tools_concurrently(registry, [call, anonymous])
        assert done.ok and done.output is not None and "queued" in done.output.content
        # The verified user replaced the model's user_id.
        assert json.loads(server.seen[0][2]) == {"order_id": "1001", "user_id": "u-1001"}
        assert not nobody.ok and "verified user" in (nobody.error or "")


async def test_http_errors_become_failed_results() -> None:
    async with run_tool_server() as server, aiohttp.ClientSession() as session:
        box = toolbox(server.base_url, session)
        registry = blueprint(
            AgentSpec("a", tools=("broken",)), box, allowed_risky=(), max_iterations=4
        ).tools
        (result,) = await run_tools_concurrently(registry, [ToolCall("broken", {}, "c")])
        assert not result.ok and (result.error or "").startswith("ToolCallFailed: HTTP 404")
