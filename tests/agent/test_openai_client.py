"""OpenAIClient against the upstream simulator over real sockets."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import aclosing

import aiohttp
import anyio
import pytest

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
from agent.openai_client import OpenAIClient
from agent.types import LLMRequest, Message, StreamChunk
from tests.support.simulator import RunningSimulator

MODEL = "gpt-4o-mini"
REQUEST = LLMRequest(
    model=MODEL,
    messages=(Message("user", "What is the capital of France?"),),
    system="You are terse.",
    max_tokens=40,
)
# Comfortably above the 1024-token minimum both providers need before they cache a prefix.
LONG_SYSTEM = "You are a support agent for Frugal. " + "Policy clause: be kind and exact. " * 250


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with create_http_session(pool_size=8, connect_timeout_s=2.0) as http:
        yield http


def make_client(
    sim: RunningSimulator,
    session: aiohttp.ClientSession,
    *,
    api_key: str = "sk-test",
    timeout_s: float = 5.0,
    **headers: str,
) -> OpenAIClient:
    extra = {f"x-sim-{name.replace('_', '-')}": value for name, value in headers.items()}
    return OpenAIClient(
        session,
        base_url=f"{sim.base_url}/v1",
        api_key=api_key,
        timeout_s=timeout_s,
        extra_headers=extra,
    )


async def collect(client: OpenAIClient, request: LLMRequest = REQUEST) -> list[StreamChunk]:
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
        assert response.provider == "openai"
        assert response.model == MODEL
        assert response.finish_reason in ("stop", "length")
        assert response.usage.prompt > 0 and response.usage.completion > 0
        assert response.usage.cached_prompt == 0
        assert not response.usage.estimated
        assert sim.stats().prompt_tokens == response.usage.prompt

    @pytest.mark.anyio
    async def test_repeated_long_system_prompt_reports_cached_tokens(
        self, sim: RunningSimulator, session: aiohttp.ClientSession
    ) -> None:
        client = make_client(sim, session)
        request = LLMRequest(model=MODEL, messages=(Message("user", "Hello"),), system=LONG_SYSTEM)
        first = await client.generate(request)
        second = await client.generate(request)
        assert first.usage.cached_prompt == 0
        assert 1024 <= second.usage.cached_prompt <= second.usage.prompt
        assert second.usage.prompt == first.usage.prompt


class TestStream:
    @pytest.mark.anyio
    async def test_yields_text_then_a_final_usage_chunk(
        self, sim: RunningSimulator, session: aiohttp.ClientSession
    ) -> None:
        client = make_client(sim, session, output_tokens="12")
        chunks = await collect(client)
        text_chunks = [chunk for chunk in chunks if chunk.text]
        assert len(text_chunks) >= 2
        assert chunks[-1].usage is not None
        assert chunks[-1].usage.completion == 12
        assert chunks[-1].usage.prompt > 0 and not chunks[-1].usage.estimated
        finish_reasons = [c.finish_reason for c in chunks if c.finish_reason]
        assert len(finish_reasons) == 1 and finish_reasons[0] in ("stop", "length")
        assert all(chunk.usage is None for chunk in chunks[:-1])
        assert sim.stats().streams_completed == 1

    @pytest.mark.anyio
    async def test_stream_reports_cached_tokens(
        self, sim: RunningSimulator, session: aiohttp.ClientSession
    ) -> None:
        client = make_client(sim, session)
        request = LLMRequest(model=MODEL, messages=(Message("user", "Hi"),), system=LONG_SYSTEM)
        await collect(client, request)
        usage = (await collect(client, request))[-1].usage
        assert usage is not None and usage.cached_prompt >= 1024

    @pytest.mark.anyio
    async def test_streams_reuse_pooled_connections(
        self, sim: RunningSimulator, session: aiohttp.ClientSession
    ) -> None:
        client = make_client(sim, session)
        texts = []
        for _ in range(3):
            texts.append("".join(chunk.text for chunk in await collect(client)))
        assert texts[0] and texts.count(texts[0]) == 3  # the simulator answers deterministically
        assert sim.stats().streams_completed == 3


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
        assert caught.value.provider == "openai"

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
    async def test_rate_limit_carries_retry_after_and_message(
        self, sim: RunningSimulator, session: aiohttp.ClientSession
    ) -> None:
        with pytest.raises(RateLimited) as caught:
            await make_client(sim, session, fault="429").generate(REQUEST)
        assert caught.value.retry_after == pytest.approx(sim.config.retry_after_s)
        assert caught.value.status == 429
        assert "Rate limit reached" in str(caught.value)

    @pytest.mark.anyio
    async def test_invalid_api_key_is_auth_error(
        self, sim: RunningSimulator, session: aiohttp.ClientSession
    ) -> None:
        with pytest.raises(AuthError, match="Incorrect API key"):
            await make_client(sim, session, api_key="invalid").generate(REQUEST)

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
        with pytest.raises(UpstreamError, match="openai"):
            async with aclosing(client.stream(REQUEST)) as chunks:
                async for chunk in chunks:
                    received.append(chunk)
        assert any(chunk.text for chunk in received)
        assert all(chunk.usage is None for chunk in received)

    @pytest.mark.anyio
    async def test_unreachable_server_is_upstream_error(
        self, session: aiohttp.ClientSession
    ) -> None:
        with anyio.fail_after(10):  # loopback refuses at once
            listener = await anyio.create_tcp_listener(local_host="127.0.0.1")
            port = listener.extra(anyio.abc.SocketAttribute.local_port)
            await listener.aclose()
        client = OpenAIClient(session, base_url=f"http://127.0.0.1:{port}/v1", api_key="k")
        with pytest.raises(UpstreamError, match="connection failed") as raised:
            await client.generate(REQUEST)
        # What reaches the caller names the failure, not our addresses or library text.
        assert str(raised.value) == "openai connection failed (could not connect)"
        assert str(port) not in str(raised.value)


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
        await wait_for_cancelled_stream(sim)

    @pytest.mark.anyio
    async def test_cancel_scope_around_a_stream_closes_the_upstream(
        self, sim: RunningSimulator, session: aiohttp.ClientSession
    ) -> None:
        client = make_client(sim, session, output_tokens="400", tokens_per_s="100")
        seen = 0
        with anyio.move_on_after(0.2) as scope:
            async with aclosing(client.stream(REQUEST)) as chunks:
                async for chunk in chunks:
                    seen += len(chunk.text)
        assert scope.cancelled_caught and seen > 0
        await wait_for_cancelled_stream(sim)


async def wait_for_cancelled_stream(sim: RunningSimulator) -> None:
    """The simulator notices the closed socket on its next write (100 tokens/s: ~10 ms)."""
    for _ in range(200):  # up to 2 s
        if sim.stats().streams_cancelled:
            break
        await anyio.sleep(0.01)
    assert sim.stats().streams_cancelled == 1
    record = sim.stats().streams[-1]
    assert record.outcome == "cancelled"
    assert record.sent_tokens < record.planned_tokens
