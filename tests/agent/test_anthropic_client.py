"""AnthropicClient against the upstream simulator over real sockets."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import aclosing

import aiohttp
import anyio
import pytest

from agent.anthropic_client import AnthropicClient
from agent.base import LLMClient
from agent.errors import (
    AuthError,
    ContextLengthExceeded,
    ProtocolError,
    ProviderError,
    RateLimited,
    UpstreamError,
    UpstreamTimeout,
)
from agent.http import create_http_session
from agent.types import LLMRequest, Message, StreamChunk
from tests.support.simulator import RunningSimulator

MODEL = "claude-3-5-haiku-latest"
REQUEST = LLMRequest(
    model=MODEL,
    messages=(Message("user", "What is the capital of France?"),),
    system="You are terse.",
    max_tokens=40,
)
# Comfortably above the 1024-token minimum Anthropic needs before it caches a prefix.
LONG_SYSTEM = "You are a support agent for Frugal. " + "Policy clause: be kind and exact. " * 250


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with create_http_session(pool_size=8, connect_timeout_s=2.0) as http:
        yield http


def make_client(
    sim: RunningSimulator,
    session: aiohttp.ClientSession,
    *,
    api_key: str = "sk-ant-test",
    timeout_s: float = 5.0,
    **headers: str,
) -> AnthropicClient:
    extra = {f"x-sim-{name.replace('_', '-')}": value for name, value in headers.items()}
    return AnthropicClient(
        session, base_url=sim.base_url, api_key=api_key, timeout_s=timeout_s, extra_headers=extra
    )


async def collect(client: AnthropicClient, request: LLMRequest = REQUEST) -> list[StreamChunk]:
    async with aclosing(client.stream(request)) as chunks:
        return [chunk async for chunk in chunks]


class TestGenerate:
    @pytest.mark.anyio
    async def test_returns_text_and_usage(
        self, sim: RunningSimulator, session: aiohttp.ClientSession
    ) -> None:
        client = make_client(sim, session)
        assert isinstance(client, LLMClient)
        response = await client.generate(REQUEST)
        assert response.text
        assert response.provider == "anthropic"
        assert response.model == MODEL
        assert response.finish_reason in ("stop", "length")
        assert response.usage.prompt > 0 and response.usage.completion > 0
        assert sim.stats().prompt_tokens == response.usage.prompt

    @pytest.mark.anyio
    async def test_default_max_tokens_applies_when_request_has_none(
        self, sim: RunningSimulator, session: aiohttp.ClientSession
    ) -> None:
        client = AnthropicClient(session, base_url=sim.base_url, api_key="k", default_max_tokens=3)
        response = await client.generate(LLMRequest(model=MODEL, messages=REQUEST.messages))
        assert response.usage.completion <= 3
        assert response.finish_reason == "length"

    @pytest.mark.anyio
    async def test_cached_system_prompt_is_written_then_read(
        self, sim: RunningSimulator, session: aiohttp.ClientSession
    ) -> None:
        client = make_client(sim, session)
        request = LLMRequest(model=MODEL, messages=(Message("user", "Hello"),), system=LONG_SYSTEM)
        first = (await client.generate(request)).usage
        second = (await client.generate(request)).usage
        assert first.cache_write >= 1024 and first.cached_prompt == 0
        assert second.cached_prompt == first.cache_write and second.cache_write == 0
        # Usage.prompt counts every input token, whichever bucket Anthropic put it in.
        assert second.prompt == first.prompt
        assert sim.stats().cached_prompt_tokens == second.cached_prompt


class TestStream:
    @pytest.mark.anyio
    async def test_yields_text_then_a_final_usage_chunk(
        self, sim: RunningSimulator, session: aiohttp.ClientSession
    ) -> None:
        client = make_client(sim, session, output_tokens="12")
        chunks = await collect(client)
        assert len([chunk for chunk in chunks if chunk.text]) >= 2
        final = chunks[-1].usage
        assert final is not None
        assert final.completion == 12 and final.prompt > 0
        finish_reasons = [c.finish_reason for c in chunks if c.finish_reason]
        assert len(finish_reasons) == 1 and finish_reasons[0] in ("stop", "length")
        # message_start's input split comes first (output provisional), the final count last.
        start = chunks[0].usage
        assert start is not None and not chunks[0].text
        assert start.prompt == final.prompt and start.completion < final.completion
        assert all(chunk.usage is None for chunk in chunks[1:-1])
        assert all(chunk.model == MODEL for chunk in chunks)
        assert sim.stats().streams_completed == 1

    @pytest.mark.anyio
    async def test_stream_usage_combines_cache_buckets_and_output(
        self, sim: RunningSimulator, session: aiohttp.ClientSession
    ) -> None:
        client = make_client(sim, session, output_tokens="7")
        request = LLMRequest(model=MODEL, messages=(Message("user", "Hi"),), system=LONG_SYSTEM)
        first = (await collect(client, request))[-1].usage
        second = (await collect(client, request))[-1].usage
        assert first is not None and second is not None
        assert first.cache_write >= 1024 and second.cached_prompt == first.cache_write
        assert first.prompt == second.prompt
        assert first.completion == second.completion == 7


FAULTS: list[tuple[str, type[ProviderError]]] = [
    ("401", AuthError),
    ("429", RateLimited),
    ("500", UpstreamError),
    ("context_length", ContextLengthExceeded),
    ("malformed", ProtocolError),
    ("disconnect", UpstreamError),
]
# A junk line mid-stream is skipped (see test_stream_skips_a_malformed_chunk), not fatal.
STREAM_FAULTS = [(fault, expected) for fault, expected in FAULTS if fault != "malformed"]


class TestFaults:
    @pytest.mark.anyio
    @pytest.mark.parametrize(("fault", "expected"), FAULTS)
    async def test_generate_maps_fault(
        self,
        sim: RunningSimulator,
        session: aiohttp.ClientSession,
        fault: str,
        expected: type[ProviderError],
    ) -> None:
        client = make_client(sim, session, fault=fault)
        with pytest.raises(expected) as caught:
            await client.generate(REQUEST)
        assert type(caught.value) is expected
        assert caught.value.provider == "anthropic"

    @pytest.mark.anyio
    @pytest.mark.parametrize(("fault", "expected"), STREAM_FAULTS)
    async def test_stream_maps_fault(
        self,
        sim: RunningSimulator,
        session: aiohttp.ClientSession,
        fault: str,
        expected: type[ProviderError],
    ) -> None:
        client = make_client(sim, session, fault=fault, output_tokens="30")
        with pytest.raises(expected) as caught:
            await collect(client)
        assert type(caught.value) is expected

    @pytest.mark.anyio
    async def test_stream_skips_a_malformed_chunk(
        self, sim: RunningSimulator, session: aiohttp.ClientSession
    ) -> None:
        client = make_client(sim, session, fault="malformed", output_tokens="30")
        chunks = await collect(client)
        assert chunks[-1].usage is not None and chunks[-1].usage.completion == 30
        assert "".join(chunk.text for chunk in chunks)
        assert client.skipped_chunks == 1

    @pytest.mark.anyio
    async def test_rate_limit_carries_retry_after(
        self, sim: RunningSimulator, session: aiohttp.ClientSession
    ) -> None:
        with pytest.raises(RateLimited) as caught:
            await make_client(sim, session, fault="429").generate(REQUEST)
        assert caught.value.retry_after == pytest.approx(sim.config.retry_after_s)

    @pytest.mark.anyio
    async def test_context_length_keeps_the_provider_message(
        self, sim: RunningSimulator, session: aiohttp.ClientSession
    ) -> None:
        with pytest.raises(ContextLengthExceeded, match="prompt is too long") as caught:
            await make_client(sim, session, fault="context_length").generate(REQUEST)
        assert caught.value.status == 400

    @pytest.mark.anyio
    async def test_invalid_api_key_is_auth_error(
        self, sim: RunningSimulator, session: aiohttp.ClientSession
    ) -> None:
        with pytest.raises(AuthError) as caught:
            await collect(make_client(sim, session, api_key="invalid"))
        assert caught.value.status == 401

    @pytest.mark.anyio
    async def test_hang_times_out(
        self, sim: RunningSimulator, session: aiohttp.ClientSession
    ) -> None:
        client = make_client(sim, session, fault="hang", timeout_s=0.3)
        with pytest.raises(UpstreamTimeout):
            await client.generate(REQUEST)
        with pytest.raises(UpstreamTimeout):
            await collect(client)

    @pytest.mark.anyio
    async def test_disconnect_mid_stream_after_some_chunks(
        self, sim: RunningSimulator, session: aiohttp.ClientSession
    ) -> None:
        client = make_client(sim, session, fault="disconnect", output_tokens="40")
        received: list[StreamChunk] = []
        with pytest.raises(UpstreamError):
            async with aclosing(client.stream(REQUEST)) as chunks:
                async for chunk in chunks:
                    received.append(chunk)
        assert any(chunk.text for chunk in received)
        # Only message_start's usage arrived: the input is known, the final count never came.
        usages = [chunk.usage for chunk in received if chunk.usage is not None]
        assert len(usages) == 1 and usages[0].prompt == sim.stats().prompt_tokens


class TestCancellation:
    @pytest.mark.anyio
    async def test_breaking_out_of_a_stream_closes_the_upstream(
        self, sim: RunningSimulator, session: aiohttp.ClientSession
    ) -> None:
        client = make_client(sim, session, output_tokens="400", tokens_per_s="100")
        async with aclosing(client.stream(REQUEST)) as chunks:
            async for chunk in chunks:
                if chunk.text:
                    break
        for _ in range(200):  # the simulator notices on its next write, ~10 ms later
            if sim.stats().streams_cancelled:
                break
            await anyio.sleep(0.01)
        assert sim.stats().streams_cancelled == 1
        record = sim.stats().streams[-1]
        assert record.outcome == "cancelled" and record.sent_tokens < record.planned_tokens
