"""Shared pieces of the provider-path billing tests: clients against the simulator, a meter
of what the simulator counted, the hand-worked price formula, and Agent helpers."""

from __future__ import annotations

from contextlib import aclosing
from dataclasses import dataclass
from typing import Literal

import aiohttp
import pytest

from agent.anthropic_client import AnthropicClient
from agent.base import LLMClient
from agent.openai_client import OpenAIClient
from agent.pipeline import (
    Agent,
    ChatRequest,
    StreamEvent,
    StreamOutcome,
    Token,
)
from agent.tokens import count_message_tokens, count_text_tokens
from agent.tools import ToolRegistry
from agent.types import LLMRequest, Message, Usage
from metrics.pricing import ModelPrice, PriceTable
from router.rules import RuleRouter
from tests.agent.pipeline.support import RecordingBudget
from tests.support.sim_http import LONG_SYSTEM
from tests.support.simulator import RunningSimulator

OPENAI_MODEL = "gpt-4o-mini"
ANTHROPIC_MODEL = "claude-haiku-4-5"
Provider = Literal["openai", "anthropic"]
MODEL: dict[Provider, str] = {"openai": OPENAI_MODEL, "anthropic": ANTHROPIC_MODEL}
# Two different questions behind one long (>1,024-token) system prompt: the second call's
# prefix is the first's, so the provider's prompt cache is written, then read.
FIRST_QUESTION = "How do I reset my password?"
SECOND_QUESTION = "Where is my order?"
# Stripped, as the Agent's prompt assembly strips it, so both layers send the same prefix.
SYSTEM = LONG_SYSTEM.strip()
TABLE = PriceTable()


def make_client(
    provider: Provider,
    sim: RunningSimulator,
    session: aiohttp.ClientSession,
    *,
    timeout_s: float = 5.0,
    **knobs: str,
) -> OpenAIClient | AnthropicClient:
    headers = {f"x-sim-{name.replace('_', '-')}": value for name, value in knobs.items()}
    if provider == "openai":
        return OpenAIClient(
            session,
            base_url=sim.base_url + "/v1",
            api_key="sk-test",
            timeout_s=timeout_s,
            extra_headers=headers,
        )
    return AnthropicClient(
        session,
        base_url=sim.base_url,
        api_key="sk-ant-test",
        timeout_s=timeout_s,
        extra_headers=headers,
    )


@dataclass(frozen=True)
class Counted:
    """What the simulator counted between two snapshots, in `Usage` terms."""

    prompt: int
    cached_prompt: int
    cache_write: int
    completion: int

    def as_usage(self, *, estimated: bool = False) -> Usage:
        return Usage(
            prompt=self.prompt,
            cached_prompt=self.cached_prompt,
            cache_write=self.cache_write,
            completion=self.completion,
            estimated=estimated,
        )


class SimMeter:
    """Reads the simulator's token counters before and after a call."""

    def __init__(self, sim: RunningSimulator) -> None:
        self._sim = sim
        self._last = self._read()

    def _read(self) -> Counted:
        stats = self._sim.stats()
        return Counted(
            stats.prompt_tokens,
            stats.cached_prompt_tokens,
            stats.cache_write_tokens,
            stats.completion_tokens,
        )

    def delta(self) -> Counted:
        now = self._read()
        last, self._last = self._last, now
        return Counted(
            now.prompt - last.prompt,
            now.cached_prompt - last.cached_prompt,
            now.cache_write - last.cache_write,
            now.completion - last.completion,
        )


def price_of(model: str) -> ModelPrice:
    price = TABLE.price_for(model)
    assert price is not None
    return price


def hand_priced(model: str, *, plain: int, cached: int, written: int, output: int) -> int:
    """The bill worked out by hand: each bucket at its own price, rounded up once."""
    price = price_of(model)
    numerator = (
        plain * price.input
        + cached * price.cached_input
        + written * price.cache_write
        + output * price.output
    )
    return (numerator + 999_999) // 1_000_000


def hand_priced_usage(model: str, usage: Usage) -> int:
    plain = usage.prompt - usage.cached_prompt - usage.cache_write
    return hand_priced(
        model,
        plain=plain,
        cached=usage.cached_prompt,
        written=usage.cache_write,
        output=usage.completion,
    )


def priced(model: str, usage: Usage) -> int:
    cost = TABLE.cost_usd_micros(model, usage)
    assert cost is not None
    return cost


def llm_request(provider: Provider, question: str) -> LLMRequest:
    return LLMRequest(
        model=MODEL[provider],
        messages=(Message("user", question),),
        system=SYSTEM,
        max_tokens=64,
    )


async def call(
    client: OpenAIClient | AnthropicClient, request: LLMRequest, *, stream: bool
) -> Usage:
    if not stream:
        return (await client.generate(request)).usage
    async with aclosing(client.stream(request)) as chunks:
        received = [chunk async for chunk in chunks]
    assert any(chunk.text for chunk in received)
    final = received[-1].usage
    assert final is not None
    return final


PATHS = [
    pytest.param("openai", False, id="openai-json"),
    pytest.param("openai", True, id="openai-sse"),
    pytest.param("anthropic", False, id="anthropic-json"),
    pytest.param("anthropic", True, id="anthropic-sse"),
]


def make_agent(
    llm: LLMClient, provider: Provider, *, budget: RecordingBudget | None = None
) -> Agent:
    model = MODEL[provider]
    return Agent(
        llm=llm,
        router=RuleRouter(cheap_model=model, strong_model=model),
        cheap_model=model,
        strong_model=model,
        costs=TABLE,
        tools=ToolRegistry(()),
        system_prompt=SYSTEM,
        budget=budget,
    )


def ask(provider: Provider, question: str) -> ChatRequest:
    return ChatRequest(messages=(Message("user", question),), model=MODEL[provider])


async def collect(agent: Agent, request: ChatRequest, outcome: StreamOutcome) -> list[StreamEvent]:
    async with aclosing(agent.stream(request, outcome=outcome)) as events:
        return [event async for event in events]


async def stream_until(
    agent: Agent, request: ChatRequest, outcome: StreamOutcome, *, stop_after: int | None
) -> tuple[str, StreamEvent | None]:
    """Consume a stream, closing it after ``stop_after`` tokens; (text, the last event)."""
    parts: list[str] = []
    last: StreamEvent | None = None
    async with aclosing(agent.stream(request, outcome=outcome)) as events:
        async for event in events:
            last = event
            if isinstance(event, Token):
                parts.append(event.text)
                if stop_after is not None and len(parts) == stop_after:
                    break
    return "".join(parts), last


def estimated_usage(provider: Provider, question: str, text: str) -> Usage:
    """Our tokenizer's count of a call: the whole prompt as plain input, the text received."""
    model = MODEL[provider]
    prompt = count_message_tokens((Message("user", question),), model, system=SYSTEM)
    return Usage(prompt=prompt, completion=count_text_tokens(text, model), estimated=True)
