"""FallbackClient over real provider clients and the simulator's real sockets."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator

import aiohttp
import pytest

from agent.anthropic_client import AnthropicClient
from agent.breaker import BreakerState, CircuitBreaker
from agent.errors import StreamInterrupted
from agent.fallback import FallbackClient
from agent.http import create_http_session
from agent.openai_client import OpenAIClient
from agent.retry import RetryPolicy
from agent.types import LLMRequest, Message
from tests.support.simulator import RunningSimulator

pytestmark = pytest.mark.anyio

REQUEST = LLMRequest(model="gpt-4o", messages=(Message("user", "How do I request a refund?"),))
FAST_RETRY = RetryPolicy(max_attempts=3, base_delay_s=0.01, max_delay_s=0.05, total_deadline_s=5)


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with create_http_session(pool_size=8, connect_timeout_s=2.0) as http:
        yield http


def openai(sim: RunningSimulator, session: aiohttp.ClientSession, **faults: str) -> OpenAIClient:
    headers = {f"x-sim-{k.replace('_', '-')}": v for k, v in faults.items()}
    return OpenAIClient(
        session, base_url=f"{sim.base_url}/v1", api_key="k", timeout_s=5, extra_headers=headers
    )


def anthropic(sim: RunningSimulator, session: aiohttp.ClientSession) -> AnthropicClient:
    return AnthropicClient(session, base_url=sim.base_url, api_key="k", timeout_s=5)


async def test_hanging_primary_times_out_and_anthropic_answers(
    sim: RunningSimulator, session: aiohttp.ClientSession
) -> None:
    client = FallbackClient(
        openai(sim, session, fault="hang"),
        anthropic(sim, session),
        timeout_s=0.5,
        secondary_model="claude-haiku-4-5",
        retry=FAST_RETRY,
    )
    started = time.monotonic()
    response = await client.generate(REQUEST)
    elapsed = time.monotonic() - started
    assert response.used_fallback and response.fallback_reason == "primary_timeout"
    assert response.provider == "anthropic" and response.model.startswith("claude-haiku-4-5")
    assert 0.5 <= elapsed < 3.0


async def test_rate_limited_primary_is_retried_then_falls_back(
    sim: RunningSimulator, session: aiohttp.ClientSession
) -> None:
    client = FallbackClient(
        openai(sim, session, fault="429"),
        anthropic(sim, session),
        timeout_s=5,
        secondary_model="claude-haiku-4-5",
        # The simulator's Retry-After (1 s by default) would exceed this budget; a retry that
        # cannot fit in the deadline is not attempted, so the fallback answers promptly.
        retry=RetryPolicy(max_attempts=3, base_delay_s=0.01, max_delay_s=0.05, total_deadline_s=1),
    )
    response = await client.generate(REQUEST)
    assert response.used_fallback and response.fallback_reason == "primary_rate_limited"
    assert sim.stats().faults.get("429", 0) >= 1


async def test_stream_falls_back_before_the_first_token(
    sim: RunningSimulator, session: aiohttp.ClientSession
) -> None:
    client = FallbackClient(
        openai(sim, session, fault="500"),
        anthropic(sim, session),
        timeout_s=5,
        secondary_model="claude-haiku-4-5",
        retry=FAST_RETRY,
    )
    chunks = [chunk async for chunk in client.stream(REQUEST)]
    text = "".join(c.text for c in chunks)
    assert text and all(c.used_fallback for c in chunks if c.text)
    assert chunks[-1].usage is not None and chunks[-1].usage.completion > 0


async def test_stream_cut_after_tokens_is_continued_on_the_fallback_model(
    sim: RunningSimulator, session: aiohttp.ClientSession
) -> None:
    client = FallbackClient(
        openai(sim, session, fault="disconnect"),
        anthropic(sim, session),
        timeout_s=5,
        secondary_model="claude-haiku-4-5",
        retry=FAST_RETRY,
    )
    received = [chunk async for chunk in client.stream(REQUEST)]
    [end] = [i for i, chunk in enumerate(received) if chunk.attempt_ended]
    assert "".join(c.text for c in received[:end])  # the cut attempt's text reached us
    assert "".join(c.text for c in received[end + 1 :])  # and the continuation's
    assert received[-1].usage is not None  # the continuation ended properly
    assert sim.stats().requests.get("messages", 0) == 1


async def test_stream_cut_after_tokens_is_interrupted_when_continuation_is_off(
    sim: RunningSimulator, session: aiohttp.ClientSession
) -> None:
    client = FallbackClient(
        openai(sim, session, fault="disconnect"),
        anthropic(sim, session),
        timeout_s=5,
        secondary_model="claude-haiku-4-5",
        retry=FAST_RETRY,
        continue_mid_stream=False,
    )
    received: list[str] = []
    with pytest.raises(StreamInterrupted):
        async for chunk in client.stream(REQUEST):
            received.append(chunk.text)
    assert "".join(received)
    assert sim.stats().requests.get("messages", 0) == 0  # the secondary was never called


async def test_breaker_opens_and_skips_the_dead_primary(
    sim: RunningSimulator, session: aiohttp.ClientSession
) -> None:
    breaker = CircuitBreaker(failure_threshold=2, cooldown_s=60)
    client = FallbackClient(
        openai(sim, session, fault="500"),
        anthropic(sim, session),
        timeout_s=5,
        secondary_model="claude-haiku-4-5",
        retry=RetryPolicy(max_attempts=1, base_delay_s=0, max_delay_s=0, total_deadline_s=5),
        breaker=breaker,
    )
    for _ in range(2):
        assert (await client.generate(REQUEST)).used_fallback
    assert breaker.state is BreakerState.OPEN
    before = sim.stats().requests.get("chat.completions", 0)
    response = await client.generate(REQUEST)
    assert response.fallback_reason == "circuit_open"
    assert sim.stats().requests.get("chat.completions", 0) == before
