"""Shared pieces for the ``/v1`` drop-in tests: a gateway in front of the upstream simulator
(OpenAI and Anthropic wires), tools the simulator triggers deterministically, and helpers to
compare completions and fold streamed chunks."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

from openai import AsyncOpenAI

from server.config import load_settings
from tests.support.gateway import RunningGateway, run_gateway
from tests.support.simulator import RunningSimulator, run_simulator

WEATHER_TOOL: dict[str, Any] = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Current weather for a city",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string"}, "days": {"type": "integer"}},
            "required": ["city", "days"],
            "additionalProperties": False,
        },
    },
}
TIME_TOOL: dict[str, Any] = {
    "type": "function",
    "function": {
        "name": "get_time",
        "description": "Local clock time for a city",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string"}},
            "required": ["city"],
            "additionalProperties": False,
        },
    },
}
TOOLS = [WEATHER_TOOL, TIME_TOOL]


@dataclass
class SimGateway:
    """A gateway whose providers (OpenAI and Anthropic wires) are the upstream simulator."""

    sim: RunningSimulator
    gateway: RunningGateway

    @property
    def base_url(self) -> str:
        return self.gateway.base_url

    def client(self) -> AsyncOpenAI:
        return AsyncOpenAI(
            base_url=f"{self.gateway.base_url}/v1", api_key="k", max_retries=0, timeout=30
        )

    def last_received(self, path: str = "/v1/chat/completions") -> bytes:
        """The raw body of the last request the simulator received on ``path``."""
        seen = [r for r in self.sim.state.received() if r.path == path]
        assert seen, f"the simulator received nothing on {path}"
        return seen[-1].raw


@asynccontextmanager
async def sim_gateway(*, anthropic: bool = True) -> AsyncIterator[SimGateway]:
    """One simulator and one gateway in front of it, for a whole module."""
    async with run_simulator() as sim:
        env = {"OPENAI_BASE_URL": f"{sim.base_url}/v1", "OPENAI_API_KEY": "k"}
        if anthropic:
            env |= {"ANTHROPIC_BASE_URL": sim.base_url, "ANTHROPIC_API_KEY": "k"}
        async with run_gateway(load_settings(env)) as gw:
            yield SimGateway(sim, gw)


def comparable(completion: Any) -> dict[str, Any]:
    """What a cache hit must replay unchanged: everything but ``id``, ``created`` and the
    gateway's own ``frugal`` extension."""
    data = completion.model_dump() if hasattr(completion, "model_dump") else dict(completion)
    return {
        "choices": data["choices"],
        "model": data["model"],
        "usage": data.get("usage"),
        "system_fingerprint": data.get("system_fingerprint"),
    }


def tool_calls_of(completion: Any, choice: int = 0) -> list[tuple[str, dict[str, Any]]]:
    """(name, decoded arguments) of each tool call of ``choice``."""
    calls = completion.choices[choice].message.tool_calls or []
    return [(c.function.name, json.loads(c.function.arguments)) for c in calls]


def fold_tool_call_deltas(chunks: list[Any]) -> list[dict[str, Any]]:
    """Accumulate streamed ``delta.tool_calls`` by index into whole calls."""
    calls: dict[int, dict[str, Any]] = {}
    for chunk in chunks:
        for choice in chunk.choices:
            for delta in choice.delta.tool_calls or ():
                slot = calls.setdefault(delta.index, {"id": None, "name": "", "arguments": ""})
                if delta.id:
                    slot["id"] = delta.id
                if delta.function is not None:
                    slot["name"] += delta.function.name or ""
                    slot["arguments"] += delta.function.arguments or ""
    return [calls[i] for i in sorted(calls)]


def streamed_text(chunks: list[Any]) -> str:
    return "".join((choice.delta.content or "") for chunk in chunks for choice in chunk.choices)


def sse_comments(text: str) -> list[str]:
    """The ``:`` comment lines of an SSE body, without the leading colon."""
    return [line[1:].strip() for line in text.splitlines() if line.startswith(":")]
