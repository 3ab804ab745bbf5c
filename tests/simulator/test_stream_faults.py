"""Faults inside an answer (stall, malformed_chunk, no_done, slow_first_token), both wires."""

from __future__ import annotations

import json
from typing import Any

import aiohttp
import anyio
import pytest

from simulator import SimConfig
from tests.support.sim_http import (
    ANTHROPIC_KEY,
    OPENAI_KEY,
    chat_body,
    messages_body,
    post,
    sse_blocks,
)
from tests.support.simulator import RunningSimulator, run_simulator

pytestmark = pytest.mark.anyio

CHAT = "/v1/chat/completions"
MESSAGES = "/v1/messages"
WIRES = [
    pytest.param(CHAT, OPENAI_KEY, chat_body, id="openai"),
    pytest.param(MESSAGES, ANTHROPIC_KEY, messages_body, id="anthropic"),
]


def _content_chunks(text: str, path: str) -> int:
    # Text deltas in a (possibly partial) stream: OpenAI content chunks, Anthropic text_delta.
    marker = '"text_delta"' if path == MESSAGES else '"content":"'
    return text.count(marker) - (0 if path == MESSAGES else text.count('"content":""'))


def _invalid_lines(text: str) -> int:
    bad = 0
    for _, data in sse_blocks(text):
        if data == "[DONE]":
            continue
        try:
            json.loads(data)
        except json.JSONDecodeError:
            bad += 1
    return bad


async def _wait_for_cancel(sim: RunningSimulator) -> None:
    for _ in range(150):
        if sim.stats().streams_cancelled:
            return
        await anyio.sleep(0.02)


class TestStall:
    @pytest.mark.parametrize(("path", "key", "make_body"), WIRES)
    async def test_stream_stalls_after_three_chunks_until_the_client_leaves(
        self,
        sim: RunningSimulator,
        http: aiohttp.ClientSession,
        path: str,
        key: dict[str, str],
        make_body: Any,
    ) -> None:
        headers = {**key, "x-sim-fault": "stall"}
        received = ""
        async with http.post(
            sim.base_url + path, json=make_body(stream=True), headers=headers
        ) as response:
            assert response.status == 200
            with pytest.raises(TimeoutError):
                with anyio.fail_after(0.5):
                    async for data in response.content.iter_any():
                        received += data.decode()
            response.close()
        assert _content_chunks(received, path) == 3
        if path == CHAT:
            assert '"role":"assistant"' in received and "[DONE]" not in received
        else:
            assert "message_start" in received and "message_stop" not in received
        await _wait_for_cancel(sim)
        stats = sim.stats()
        assert stats.faults == {"stall": 1}
        assert stats.streams[0].outcome == "cancelled" and stats.streams[0].sent_tokens == 3

    async def test_stall_after_chunks_is_configurable(self, http: aiohttp.ClientSession) -> None:
        async with run_simulator(SimConfig(stall_after_chunks=1, rate_stall=1.0)) as sim:
            received = ""
            async with http.post(
                sim.base_url + CHAT, json=chat_body(stream=True), headers=OPENAI_KEY
            ) as response:
                with pytest.raises(TimeoutError):
                    with anyio.fail_after(0.4):
                        async for data in response.content.iter_any():
                            received += data.decode()
                response.close()
            assert _content_chunks(received, CHAT) == 1

    @pytest.mark.parametrize(("path", "key", "make_body"), WIRES)
    async def test_json_request_hangs(
        self,
        sim: RunningSimulator,
        http: aiohttp.ClientSession,
        path: str,
        key: dict[str, str],
        make_body: Any,
    ) -> None:
        with pytest.raises(TimeoutError):
            await http.post(
                sim.base_url + path,
                json=make_body(),
                headers={**key, "x-sim-fault": "stall"},
                timeout=aiohttp.ClientTimeout(total=0.3),
            )


class TestMalformedChunk:
    @pytest.mark.parametrize(("path", "key", "make_body"), WIRES)
    async def test_one_invalid_line_after_the_second_chunk_then_a_complete_stream(
        self,
        sim: RunningSimulator,
        http: aiohttp.ClientSession,
        path: str,
        key: dict[str, str],
        make_body: Any,
    ) -> None:
        status, _, text = await post(
            http,
            sim.base_url + path,
            make_body(stream=True),
            {**key, "x-sim-fault": "malformed_chunk"},
        )
        assert status == 200 and _invalid_lines(text) == 1
        blocks = sse_blocks(text)
        bad = next(i for i, (_, data) in enumerate(blocks) if data.endswith(("choi", "ind")))
        assert _content_chunks("".join(d for _, d in blocks[:bad]), path) == 2
        if path == CHAT:
            assert blocks[-1] == (None, "[DONE]")
        else:
            assert blocks[-1][0] == "message_stop"
        _, _, clean = await post(http, sim.base_url + path, make_body(stream=True), key)
        assert _content_chunks(text, path) == _content_chunks(clean, path)
        assert sim.stats().streams_completed == 2

    async def test_json_answer_is_untouched(
        self, sim: RunningSimulator, http: aiohttp.ClientSession
    ) -> None:
        headers = {**OPENAI_KEY, "x-sim-fault": "malformed_chunk"}
        status, _, text = await post(http, sim.base_url + CHAT, chat_body(), headers)
        assert status == 200 and json.loads(text)["choices"][0]["message"]["content"]
        assert sim.stats().faults == {}


class TestNoDone:
    async def test_openai_stream_ends_without_done_after_finish_and_usage(
        self, sim: RunningSimulator, http: aiohttp.ClientSession
    ) -> None:
        body = chat_body(stream=True, stream_options={"include_usage": True})
        status, _, text = await post(
            http, sim.base_url + CHAT, body, {**OPENAI_KEY, "x-sim-fault": "no_done"}
        )
        assert status == 200 and "[DONE]" not in text
        chunks = [json.loads(data) for _, data in sse_blocks(text)]
        assert chunks[-2]["choices"][0]["finish_reason"] == "stop"
        assert chunks[-1]["choices"] == [] and chunks[-1]["usage"]["completion_tokens"] > 0
        stats = sim.stats()
        assert stats.faults == {"no_done": 1} and stats.streams_aborted == 1

    async def test_anthropic_stream_ends_after_message_delta(
        self, sim: RunningSimulator, http: aiohttp.ClientSession
    ) -> None:
        status, _, text = await post(
            http,
            sim.base_url + MESSAGES,
            messages_body(stream=True),
            {**ANTHROPIC_KEY, "x-sim-fault": "no_done"},
        )
        blocks = sse_blocks(text)
        assert status == 200 and blocks[-1][0] == "message_delta"
        last = json.loads(blocks[-1][1])
        assert last["delta"]["stop_reason"] == "end_turn" and last["usage"]["output_tokens"] > 0
        assert all(event != "message_stop" for event, _ in blocks)


class TestSlowFirstToken:
    @pytest.mark.parametrize(("path", "key", "make_body"), WIRES)
    @pytest.mark.parametrize("stream", [True, False])
    async def test_first_token_waits_then_the_answer_is_normal(
        self,
        http: aiohttp.ClientSession,
        path: str,
        key: dict[str, str],
        make_body: Any,
        stream: bool,
    ) -> None:
        async with run_simulator(SimConfig(slow_ttft_ms=300)) as sim:
            headers = {**key, "x-sim-fault": "slow_first_token"}
            start = anyio.current_time()
            first_at = None
            received = b""
            # The first token: OpenAI's first chunk or answer, Anthropic's first text.
            token = b'"choices"' if path == CHAT else b"content_block_delta"
            token = token if stream or path == CHAT else b'"text"'
            async with http.post(
                sim.base_url + path, json=make_body(stream=stream), headers=headers
            ) as response:
                async for data in response.content.iter_any():
                    if first_at is None and token in data:
                        first_at = anyio.current_time() - start
                    received += data
            assert first_at is not None and 0.29 <= first_at < 2.0
            _, _, clean = await post(http, sim.base_url + path, make_body(stream=stream), key)
            if not stream:
                assert json.loads(received)["usage"] == json.loads(clean)["usage"]
            else:
                assert _content_chunks(received.decode(), path) == _content_chunks(clean, path)
            assert sim.stats().faults == {"slow_first_token": 1}
