"""The `LLMClient` contract, one suite for every implementation: the provider clients against
the upstream simulator over real sockets, the in-process simulated client, and the wrappers
(fallback, provider rate limits) around a provider client.

Contract: ``generate`` returns text, model, usage and a finish reason; ``stream`` yields text
whose concatenation is ``generate``'s text for the same deterministic request and ends with
a chunk carrying usage; closing a stream early raises nothing and closes the upstream call;
an upstream 4xx raises a `ProviderError`. Clients that take a caller's wire ``body`` answer
with OpenAI-shaped ``completion`` dicts and stream chunks carrying ``payload``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass
from typing import Any

import aiohttp
import anyio
import msgspec
import pytest

from agent.anthropic_client import AnthropicClient
from agent.base import LLMClient
from agent.errors import BadRequest, ProviderError
from agent.fallback import FallbackClient
from agent.http import create_http_session
from agent.openai_client import OpenAIClient
from agent.provider_limits import ProviderRateLimiter, RateLimitedClient
from agent.retry import RetryPolicy
from agent.simulated import SimulatedClient
from agent.simulation import Pace
from agent.types import LLMRequest, Message, StreamChunk
from simulator import SimConfig
from tests.support.simulator import RunningSimulator

pytestmark = pytest.mark.anyio

FAST_RETRY = RetryPolicy(max_attempts=2, base_delay_s=0.01, max_delay_s=0.05, total_deadline_s=5)
Headers = Mapping[str, str]


@dataclass
class Subject:
    """One implementation under contract: ``make(headers)`` builds it (``headers`` reach the
    simulator, e.g. ``x-sim-fault``); ``sim`` is None for in-process clients."""

    kind: str
    model: str
    make: Callable[[Headers], LLMClient]
    sim: RunningSimulator | None

    @property
    def client(self) -> LLMClient:
        return self.make({})


KINDS = ["openai", "anthropic", "simulated", "fallback", "rate_limited"]
UPSTREAM_KINDS = [kind for kind in KINDS if kind != "simulated"]
"""The clients with a provider behind them (the simulated one has none to refuse)."""
BODY_KINDS = ["openai", "anthropic"]
"""The provider clients that take a caller's wire body themselves."""


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with create_http_session(pool_size=8, connect_timeout_s=2.0) as http:
        yield http


@pytest.fixture(params=KINDS)
def subject(
    request: pytest.FixtureRequest, sim: RunningSimulator, session: aiohttp.ClientSession
) -> Subject:
    return make_subject(request.param, sim, session)


@pytest.fixture(params=UPSTREAM_KINDS)
def upstream_subject(
    request: pytest.FixtureRequest, sim: RunningSimulator, session: aiohttp.ClientSession
) -> Subject:
    return make_subject(request.param, sim, session)


@pytest.fixture(params=BODY_KINDS)
def body_subject(
    request: pytest.FixtureRequest, sim: RunningSimulator, session: aiohttp.ClientSession
) -> Subject:
    return make_subject(request.param, sim, session)


def make_subject(kind: str, sim: RunningSimulator, session: aiohttp.ClientSession) -> Subject:
    """The client of ``kind`` against ``sim``."""

    def openai(headers: Headers) -> OpenAIClient:
        return OpenAIClient(
            session,
            base_url=f"{sim.base_url}/v1",
            api_key="k",
            timeout_s=5,
            extra_headers=dict(headers),
        )

    def anthropic(headers: Headers) -> AnthropicClient:
        return AnthropicClient(
            session, base_url=sim.base_url, api_key="k", timeout_s=5, extra_headers=dict(headers)
        )

    match kind:
        case "openai":
            return Subject("openai", "gpt-4o-mini", openai, sim)
        case "anthropic":
            return Subject("anthropic", "claude-haiku-4-5", anthropic, sim)
        case "simulated":
            fast = SimulatedClient(default=Pace(ttft_s=0.0, tokens_per_s=0.0))
            return Subject("simulated", "gpt-4o-mini", lambda _: fast, None)
        case "fallback":
            return Subject(
                "fallback",
                "gpt-4o-mini",
                lambda h: FallbackClient(openai(h), None, timeout_s=5, retry=FAST_RETRY),
                sim,
            )
        case "rate_limited":
            limiter = ProviderRateLimiter(
                "openai", requests_per_minute=6000, tokens_per_minute=10_000_000
            )
            return Subject(
                "rate_limited", "gpt-4o-mini", lambda h: RateLimitedClient(openai(h), limiter), sim
            )
    raise AssertionError(kind)


def ask(subject: Subject, question: str, **fields: Any) -> LLMRequest:
    return LLMRequest(
        model=subject.model, messages=(Message("user", question),), temperature=0.0, **fields
    )


async def collect(chunks: AsyncIterator[StreamChunk]) -> list[StreamChunk]:
    out = []
    async with _closing(chunks) as it:
        async for chunk in it:
            out.append(chunk)
    return out


class _closing:
    def __init__(self, chunks: AsyncIterator[StreamChunk]) -> None:
        self._chunks = chunks

    async def __aenter__(self) -> AsyncIterator[StreamChunk]:
        return self._chunks

    async def __aexit__(self, *exc: object) -> None:
        aclose = getattr(self._chunks, "aclose", None)
        if aclose is not None:
            await aclose()


class TestContract:
    async def test_is_an_llm_client(self, subject: Subject) -> None:
        client = subject.client
        assert isinstance(client, LLMClient)
        assert isinstance(client.name, str) and client.name

    async def test_generate_returns_text_model_usage_and_finish_reason(
        self, subject: Subject
    ) -> None:
        response = await subject.client.generate(ask(subject, "How do I reset my password?"))
        assert response.text.strip()
        assert response.model.startswith(subject.model)
        assert response.usage.prompt > 0 and response.usage.completion > 0
        assert response.finish_reason == "stop"
        assert response.provider

    async def test_stream_concatenates_to_generate_and_ends_with_usage(
        self, subject: Subject
    ) -> None:
        request = ask(subject, "How do I update my billing address?")
        whole = await subject.client.generate(request)
        chunks = await collect(subject.client.stream(request))
        assert "".join(c.text for c in chunks) == whole.text
        assert chunks[-1].usage is not None
        assert chunks[-1].usage.prompt > 0 and chunks[-1].usage.completion > 0
        assert (chunks[-1].usage.prompt, chunks[-1].usage.completion) == (
            whole.usage.prompt,
            whole.usage.completion,
        )
        reasons = [c.finish_reason for c in chunks if c.finish_reason]
        assert reasons == ["stop"]
        assert all(c.model.startswith(subject.model) for c in chunks if c.model)

    async def test_closing_a_stream_early_raises_nothing_and_closes_upstream(
        self, subject: Subject
    ) -> None:
        if subject.sim is not None:
            subject.sim.state.config = SimConfig(tokens_per_s=200.0, output_tokens=300)
            subject.sim.reset()
        chunks = subject.client.stream(ask(subject, "Tell me everything about your plans."))
        first = None
        async for chunk in chunks:
            if chunk.text:
                first = chunk
                break
        assert first is not None
        aclose = getattr(chunks, "aclose", None)
        assert aclose is not None, "a stream must be closable"
        with anyio.fail_after(5):
            await aclose()
        if subject.sim is not None:
            sim = subject.sim
            with anyio.fail_after(5):
                while sim.stats().streams_cancelled < 1:
                    await anyio.sleep(0.02)
            stats = sim.stats()
            assert stats.streams_completed == 0
            assert stats.completion_tokens < 300

    async def test_upstream_4xx_raises_a_provider_error(self, upstream_subject: Subject) -> None:
        subject = upstream_subject
        client = subject.make({"x-sim-fault": "context_length"})
        request = ask(subject, "How do I close my account?")
        with pytest.raises(ProviderError) as caught:
            await client.generate(request)
        assert isinstance(caught.value, BadRequest)
        assert caught.value.status == 400
        with pytest.raises(ProviderError) as caught:
            await collect(client.stream(request))
        assert isinstance(caught.value, BadRequest)
        assert caught.value.status == 400


def wire(subject: Subject, body: dict[str, Any]) -> LLMRequest:
    raw = msgspec.json.encode(body)
    question = body["messages"][-1]["content"]
    return LLMRequest(
        model=subject.model,
        messages=(Message("user", question),),
        temperature=0.0,
        body=body,
        raw=raw,
    )


class TestWireBody:
    async def test_generate_returns_an_openai_completion(self, body_subject: Subject) -> None:
        subject = body_subject
        body = {
            "model": subject.model,
            "messages": [{"role": "user", "content": "Can I change my username?"}],
            "temperature": 0,
            "max_completion_tokens": 200,
        }
        response = await subject.client.generate(wire(subject, body))
        completion = response.completion
        assert completion is not None
        assert completion["object"] == "chat.completion"
        assert isinstance(completion["id"], str) and isinstance(completion["created"], int)
        [choice] = completion["choices"]
        assert choice["index"] == 0 and choice["finish_reason"] == "stop"
        assert choice["message"]["role"] == "assistant"
        assert choice["message"]["content"] == response.text and response.text
        usage = completion["usage"]
        assert usage["prompt_tokens"] > 0 and usage["completion_tokens"] > 0
        assert usage["total_tokens"] == usage["prompt_tokens"] + usage["completion_tokens"]
        assert response.usage.prompt == usage["prompt_tokens"]

    async def test_tool_calls_come_back_in_openai_shape(self, body_subject: Subject) -> None:
        subject = body_subject
        tool = {
            "type": "function",
            "function": {
                "name": "get_weather",
                "description": "Current weather for a city",
                "parameters": {
                    "type": "object",
                    "properties": {"city": {"type": "string"}},
                    "required": ["city"],
                },
            },
        }
        body = {
            "model": subject.model,
            "messages": [{"role": "user", "content": "What is the weather in Madrid?"}],
            "tools": [tool],
        }
        response = await subject.client.generate(wire(subject, body))
        assert response.completion is not None
        [choice] = response.completion["choices"]
        assert choice["finish_reason"] == "tool_calls"
        [call] = choice["message"]["tool_calls"]
        assert call["type"] == "function" and call["id"]
        assert call["function"]["name"] == "get_weather"
        assert msgspec.json.decode(call["function"]["arguments"]) == {"city": "weather"}

    async def test_stream_chunks_carry_payload(self, body_subject: Subject) -> None:
        subject = body_subject
        body = {
            "model": subject.model,
            "messages": [{"role": "user", "content": "Can I change my email address?"}],
            "temperature": 0,
            "stream": True,
        }
        request = wire(subject, body)
        whole = await subject.client.generate(wire(subject, {**body, "stream": False}))
        chunks = await collect(subject.client.stream(request))
        payloads = [c.payload for c in chunks if c.payload is not None]
        assert payloads
        for payload in payloads:
            assert payload["object"] == "chat.completion.chunk"
        text_chunks = [c for c in chunks if c.text]
        assert text_chunks and all(c.payload is not None for c in text_chunks)
        deltas = "".join(
            (choice.get("delta") or {}).get("content") or ""
            for payload in payloads
            for choice in payload.get("choices") or ()
        )
        assert deltas == "".join(c.text for c in chunks) == whole.text
        assert [c for c in chunks if c.usage is not None], "a chunk must carry usage"
        assert chunks[-1].usage is not None
