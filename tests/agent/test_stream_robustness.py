"""Provider streams judged by what the provider sent: a complete stream missing its terminal
marker succeeds, a junk chunk is skipped and counted, a stalled stream times out.

Each test drives a real client against a small aiohttp server on 127.0.0.1 that sends
exactly the scripted bytes, for text-mode and wire-body requests alike.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import AsyncIterator, Sequence
from contextlib import aclosing
from dataclasses import dataclass, field

import aiohttp
import anyio
import pytest
from aiohttp import web

from agent.anthropic_client import AnthropicClient
from agent.errors import ProtocolError, UpstreamError, UpstreamTimeout
from agent.http import create_http_session
from agent.openai_client import OpenAIClient
from agent.types import LLMRequest, Message, StreamChunk, Usage

OPENAI_MODEL = "gpt-4o-mini"
ANTHROPIC_MODEL = "claude-3-5-haiku-latest"


@dataclass(frozen=True)
class Stall:
    """A script step: go quiet for ``seconds`` (or until the client hangs up)."""

    seconds: float


@dataclass(frozen=True)
class Pause:
    """A script step: wait ``seconds``, then go on with the script."""

    seconds: float


Step = bytes | Stall | Pause


@dataclass
class ScriptedUpstream:
    """Answers every POST with a 200 event stream made of ``script``, written step by step."""

    base_url: str
    script: Sequence[Step] = ()
    hung_up: bool = field(default=False)

    async def handle(self, request: web.Request) -> web.StreamResponse:
        await request.read()
        response = web.StreamResponse(headers={"content-type": "text/event-stream"})
        await response.prepare(request)
        for step in self.script:
            if isinstance(step, Stall):
                await self._stall(request, step.seconds)
                return response
            if isinstance(step, Pause):
                await anyio.sleep(step.seconds)
                continue
            await response.write(step)
            await anyio.sleep(0.02)  # one network read per step
        await response.write_eof()
        return response

    async def _stall(self, request: web.Request, seconds: float) -> None:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            if request.transport is None or request.transport.is_closing():
                self.hung_up = True
                return
            await anyio.sleep(0.01)


@pytest.fixture
async def upstream() -> AsyncIterator[ScriptedUpstream]:
    scripted = ScriptedUpstream(base_url="")
    app = web.Application()
    app.router.add_post("/{tail:.*}", scripted.handle)
    runner = web.AppRunner(app, shutdown_timeout=0.5)
    await runner.setup()
    try:
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        scripted.base_url = f"http://127.0.0.1:{runner.addresses[0][1]}"
        yield scripted
    finally:
        await runner.cleanup()


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with create_http_session(pool_size=4, connect_timeout_s=2.0) as http:
        yield http


def data(payload: object) -> bytes:
    return b"data: " + json.dumps(payload).encode() + b"\n\n"


def request_for(model: str, mode: str) -> LLMRequest:
    messages = (Message("user", "Say hello"),)
    if mode == "text":
        return LLMRequest(model=model, messages=messages, max_tokens=20)
    body = {"model": model, "messages": [{"role": "user", "content": "Say hello"}], "stream": True}
    return LLMRequest(
        model=model, messages=messages, max_tokens=20, body=body, raw=json.dumps(body).encode()
    )


async def collect(client: OpenAIClient | AnthropicClient, request: LLMRequest) -> list[StreamChunk]:
    async with aclosing(client.stream(request)) as chunks:
        return [chunk async for chunk in chunks]


def text_of(chunks: list[StreamChunk]) -> str:
    return "".join(chunk.text for chunk in chunks)


def finish_reasons(chunks: list[StreamChunk]) -> list[str]:
    return [chunk.finish_reason for chunk in chunks if chunk.finish_reason]


def final_usage(chunks: list[StreamChunk]) -> Usage | None:
    return chunks[-1].usage


MODES = ["text", "wire"]

# --- OpenAI ---------------------------------------------------------------------------------


def oa_chunk(text: str | None = None, finish: str | None = None) -> bytes:
    delta = {"content": text} if text is not None else {}
    choice = {"index": 0, "delta": delta, "finish_reason": finish}
    return data({"object": "chat.completion.chunk", "model": OPENAI_MODEL, "choices": [choice]})


OA_USAGE = data(
    {
        "object": "chat.completion.chunk",
        "model": OPENAI_MODEL,
        "choices": [],
        "usage": {"prompt_tokens": 11, "completion_tokens": 3, "total_tokens": 14},
    }
)
OA_DONE = b"data: [DONE]\n\n"
OA_ANSWER = [oa_chunk("Hel"), oa_chunk("lo"), oa_chunk(finish="stop"), OA_USAGE]
OA_JUNK = [b'data: {"choices": [{"index": 0, "del\n\n', b"data: 42\n\n"]


def openai_client(
    upstream: ScriptedUpstream, session: aiohttp.ClientSession, **options: float
) -> OpenAIClient:
    return OpenAIClient(
        session, base_url=f"{upstream.base_url}/v1", api_key="sk-test", timeout_s=5.0, **options
    )


@pytest.mark.parametrize("mode", MODES)
class TestOpenAIStream:
    @pytest.mark.anyio
    async def test_complete_stream_without_done_succeeds(
        self, upstream: ScriptedUpstream, session: aiohttp.ClientSession, mode: str
    ) -> None:
        upstream.script = OA_ANSWER
        chunks = await collect(openai_client(upstream, session), request_for(OPENAI_MODEL, mode))
        assert text_of(chunks) == "Hello"
        assert finish_reasons(chunks) == ["stop"]
        assert final_usage(chunks) == Usage(prompt=11, completion=3)

    @pytest.mark.anyio
    async def test_stream_without_finish_reason_is_cut(
        self, upstream: ScriptedUpstream, session: aiohttp.ClientSession, mode: str
    ) -> None:
        upstream.script = [oa_chunk("Hel"), oa_chunk("lo"), OA_USAGE]
        with pytest.raises(UpstreamError, match=r"before \[DONE\]") as caught:
            await collect(openai_client(upstream, session), request_for(OPENAI_MODEL, mode))
        assert type(caught.value) is UpstreamError

    @pytest.mark.anyio
    async def test_stream_cut_before_its_usage_chunk_is_cut(
        self, upstream: ScriptedUpstream, session: aiohttp.ClientSession, mode: str
    ) -> None:
        upstream.script = [oa_chunk("Hello"), oa_chunk(finish="stop")]
        with pytest.raises(UpstreamError) as caught:
            await collect(openai_client(upstream, session), request_for(OPENAI_MODEL, mode))
        assert type(caught.value) is UpstreamError

    @pytest.mark.anyio
    async def test_junk_chunks_are_skipped_counted_and_logged_once(
        self,
        upstream: ScriptedUpstream,
        session: aiohttp.ClientSession,
        mode: str,
        caplog: pytest.LogCaptureFixture,
    ) -> None:
        upstream.script = [OA_ANSWER[0], *OA_JUNK, *OA_ANSWER[1:], OA_DONE]
        client = openai_client(upstream, session)
        with caplog.at_level(logging.WARNING, logger="agent.sse"):
            chunks = await collect(client, request_for(OPENAI_MODEL, mode))
        assert text_of(chunks) == "Hello"
        assert finish_reasons(chunks) == ["stop"]
        assert final_usage(chunks) == Usage(prompt=11, completion=3)
        assert client.skipped_chunks == 2
        warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
        assert len(warnings) == 1
        assert "openai" in warnings[0].getMessage()
        assert "del" not in warnings[0].getMessage()

    @pytest.mark.anyio
    async def test_an_all_junk_body_is_a_cut_stream(
        self, upstream: ScriptedUpstream, session: aiohttp.ClientSession, mode: str
    ) -> None:
        upstream.script = [*OA_JUNK, b"data: [1, 2]\n\n"]
        client = openai_client(upstream, session)
        with pytest.raises(UpstreamError) as caught:
            await collect(client, request_for(OPENAI_MODEL, mode))
        assert type(caught.value) is UpstreamError
        assert client.skipped_chunks == 3

    @pytest.mark.anyio
    async def test_undecodable_bytes_stay_a_protocol_error(
        self, upstream: ScriptedUpstream, session: aiohttp.ClientSession, mode: str
    ) -> None:
        upstream.script = [OA_ANSWER[0], b"data: \xff\xfe\n\n", *OA_ANSWER[1:]]
        with pytest.raises(ProtocolError, match="malformed stream"):
            await collect(openai_client(upstream, session), request_for(OPENAI_MODEL, mode))

    @pytest.mark.anyio
    async def test_a_stall_times_out_and_hangs_up(
        self, upstream: ScriptedUpstream, session: aiohttp.ClientSession, mode: str
    ) -> None:
        upstream.script = [*OA_ANSWER[:2], Stall(5.0)]
        client = openai_client(upstream, session, idle_timeout_s=0.3)
        received: list[StreamChunk] = []
        started = time.monotonic()
        with pytest.raises(UpstreamTimeout, match="stalled"):
            async with aclosing(client.stream(request_for(OPENAI_MODEL, mode))) as chunks:
                async for chunk in chunks:
                    received.append(chunk)
        assert 0.3 <= time.monotonic() - started < 1.0
        assert text_of(received) == "Hello"
        await wait_for_hang_up(upstream)

    @pytest.mark.anyio
    async def test_the_stall_guard_waits_for_the_first_byte(
        self, upstream: ScriptedUpstream, session: aiohttp.ClientSession, mode: str
    ) -> None:
        upstream.script = [Pause(0.6), *OA_ANSWER, OA_DONE]  # headers sent, body late
        client = openai_client(upstream, session, idle_timeout_s=0.3)
        chunks = await collect(client, request_for(OPENAI_MODEL, mode))
        assert text_of(chunks) == "Hello"


class TestOpenAIRelay:
    @pytest.mark.anyio
    async def test_a_junk_line_ending_a_read_ends_the_relayed_batch(
        self, upstream: ScriptedUpstream, session: aiohttp.ClientSession
    ) -> None:
        # "more" says another relayed chunk of the same read follows at once: when the rest
        # of the read was junk, the chunk before it must not leave the relay waiting.
        upstream.script = [
            oa_chunk("Hel") + oa_chunk("lo"),
            oa_chunk(" there") + OA_JUNK[0],
            oa_chunk(finish="stop") + OA_USAGE + OA_DONE,
        ]
        client = openai_client(upstream, session)
        chunks = await collect(client, request_for(OPENAI_MODEL, "wire"))
        relayed = [(chunk.text, chunk.more) for chunk in chunks if chunk.raw is not None]
        assert relayed == [("Hel", True), ("lo", False), (" there", False), ("", True), ("", True)]
        assert client.skipped_chunks == 1


# --- Anthropic ------------------------------------------------------------------------------


def event(name: str, payload: dict[str, object]) -> bytes:
    return b"event: " + name.encode() + b"\n" + data({"type": name, **payload})


AN_START = event(
    "message_start",
    {
        "message": {
            "id": "msg_1",
            "type": "message",
            "role": "assistant",
            "model": ANTHROPIC_MODEL,
            "content": [],
            "stop_reason": None,
            "usage": {"input_tokens": 20, "cache_read_input_tokens": 5, "output_tokens": 1},
        }
    },
)
AN_BLOCK = event("content_block_start", {"index": 0, "content_block": {"type": "text", "text": ""}})
AN_BLOCK_STOP = event("content_block_stop", {"index": 0})
AN_DELTA = event(
    "message_delta",
    {"delta": {"stop_reason": "end_turn", "stop_sequence": None}, "usage": {"output_tokens": 7}},
)
AN_STOP = event("message_stop", {})
AN_JUNK = [
    b'event: content_block_delta\ndata: {"type": "content_block_delta", "ind\n\n',
    b"event: content_block_delta\ndata: [1]\n\n",
]
AN_USAGE = Usage(prompt=25, cached_prompt=5, completion=7)


def text_delta(text: str) -> bytes:
    return event("content_block_delta", {"index": 0, "delta": {"type": "text_delta", "text": text}})


AN_ANSWER = [AN_START, AN_BLOCK, text_delta("Hel"), text_delta("lo"), AN_BLOCK_STOP, AN_DELTA]


def anthropic_client(
    upstream: ScriptedUpstream, session: aiohttp.ClientSession, **options: float
) -> AnthropicClient:
    return AnthropicClient(
        session, base_url=upstream.base_url, api_key="sk-ant-test", timeout_s=5.0, **options
    )


@pytest.mark.parametrize("mode", MODES)
class TestAnthropicStream:
    @pytest.mark.anyio
    async def test_stream_without_message_stop_after_a_stop_reason_succeeds(
        self, upstream: ScriptedUpstream, session: aiohttp.ClientSession, mode: str
    ) -> None:
        upstream.script = AN_ANSWER
        chunks = await collect(
            anthropic_client(upstream, session), request_for(ANTHROPIC_MODEL, mode)
        )
        assert text_of(chunks) == "Hello"
        assert finish_reasons(chunks) == ["stop"]
        assert final_usage(chunks) == AN_USAGE

    @pytest.mark.anyio
    async def test_stream_without_message_delta_is_cut(
        self, upstream: ScriptedUpstream, session: aiohttp.ClientSession, mode: str
    ) -> None:
        upstream.script = AN_ANSWER[:-1]
        with pytest.raises(UpstreamError, match="before message_stop") as caught:
            await collect(anthropic_client(upstream, session), request_for(ANTHROPIC_MODEL, mode))
        assert type(caught.value) is UpstreamError

    @pytest.mark.anyio
    async def test_junk_events_are_skipped_and_counted(
        self,
        upstream: ScriptedUpstream,
        session: aiohttp.ClientSession,
        mode: str,
        caplog: pytest.LogCaptureFixture,
    ) -> None:
        upstream.script = [*AN_ANSWER[:3], *AN_JUNK, *AN_ANSWER[3:], AN_STOP]
        client = anthropic_client(upstream, session)
        with caplog.at_level(logging.WARNING, logger="agent.sse"):
            chunks = await collect(client, request_for(ANTHROPIC_MODEL, mode))
        assert text_of(chunks) == "Hello"
        assert final_usage(chunks) == AN_USAGE
        assert client.skipped_chunks == 2
        warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
        assert len(warnings) == 1 and "anthropic" in warnings[0].getMessage()

    @pytest.mark.anyio
    async def test_an_all_junk_body_is_a_cut_stream(
        self, upstream: ScriptedUpstream, session: aiohttp.ClientSession, mode: str
    ) -> None:
        upstream.script = AN_JUNK
        client = anthropic_client(upstream, session)
        with pytest.raises(UpstreamError) as caught:
            await collect(client, request_for(ANTHROPIC_MODEL, mode))
        assert type(caught.value) is UpstreamError
        assert client.skipped_chunks == 2

    @pytest.mark.anyio
    async def test_a_stall_times_out_and_hangs_up(
        self, upstream: ScriptedUpstream, session: aiohttp.ClientSession, mode: str
    ) -> None:
        upstream.script = [*AN_ANSWER[:3], Stall(5.0)]
        client = anthropic_client(upstream, session, idle_timeout_s=0.3)
        started = time.monotonic()
        with pytest.raises(UpstreamTimeout, match="stalled"):
            await collect(client, request_for(ANTHROPIC_MODEL, mode))
        assert 0.3 <= time.monotonic() - started < 1.0
        await wait_for_hang_up(upstream)


async def wait_for_hang_up(upstream: ScriptedUpstream) -> None:
    with anyio.fail_after(2):
        while not upstream.hung_up:
            await anyio.sleep(0.01)
