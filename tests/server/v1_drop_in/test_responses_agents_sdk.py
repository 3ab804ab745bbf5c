"""A tool loop written with the OpenAI Agents SDK (``openai-agents``) against the gateway's
``/v1/responses``: two function tools called in parallel, then the final answer."""

from __future__ import annotations

import json

import agents
import pytest
from agents import Agent, ModelSettings, OpenAIResponsesModel, Runner, function_tool

from tests.support.v1 import SimGateway

pytestmark = pytest.mark.anyio


async def test_agent_runs_two_tools_in_parallel_then_answers(gw: SimGateway) -> None:
    agents.set_tracing_disabled(True)
    calls: list[tuple[str, str]] = []

    @function_tool
    def get_weather(city: str) -> str:
        """Current weather for a city."""
        calls.append(("get_weather", city))
        return "Cloudy, 17 C"

    @function_tool
    def get_time(city: str) -> str:
        """Local clock time for a city."""
        calls.append(("get_time", city))
        return "14:05"

    async with gw.client() as client:
        agent = Agent(
            name="travel",
            instructions="Answer with the tools.",
            tools=[get_weather, get_time],
            model=OpenAIResponsesModel(model="gpt-4o-mini", openai_client=client),
            model_settings=ModelSettings(temperature=0, parallel_tool_calls=True),
        )
        result = await Runner.run(agent, "Tell me the weather and the local time in Lisbon")
    assert sorted(name for name, _ in calls) == ["get_time", "get_weather"]
    answer = str(result.final_output)
    assert "Cloudy, 17 C" in answer and "14:05" in answer
    # Both results went back in one request, after the one that asked for both calls.
    seen = [r for r in gw.sim.state.received() if r.path == "/v1/chat/completions"]
    last = json.loads(seen[-1].raw)
    assert [m["role"] for m in last["messages"]][-3:] == ["assistant", "tool", "tool"]
    assert len(last["messages"][-3]["tool_calls"]) == 2
