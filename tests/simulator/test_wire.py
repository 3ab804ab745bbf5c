"""The simulator's OpenAI and Anthropic wire formats and auth, over real sockets."""

from __future__ import annotations

import json
from typing import Any

import aiohttp
import pytest

from agent.tokens import count_message_tokens, count_text_tokens
from agent.types import Message
from tests.support.sim_http import (
    ANTHROPIC_KEY,
    LONG_SYSTEM,
    OPENAI_KEY,
    QUESTION,
    chat_body,
    messages_body,
    post,
    sse_blocks,
)
from tests.support.simulator import RunningSimulator

pytestmark = pytest.mark.anyio


class TestOpenAIChat:
    async def test_json_completion_has_wire_shape_and_real_usage(
        self, sim: RunningSimulator, http: aiohttp.ClientSession
    ) -> None:
        url = f"{sim.base_url}/v1/chat/completions"
        status, _, text = await post(http, url, chat_body(), OPENAI_KEY)
        assert status == 200
        body = json.loads(text)
        assert body["object"] == "chat.completion" and body["id"].startswith("chatcmpl-")
        choice = body["choices"][0]
        assert choice["message"]["role"] == "assistant" and choice["finish_reason"] == "stop"
        content = choice["message"]["content"]
        assert "Forgot password" in content
        usage = body["usage"]
        prompt = count_message_tokens([Message("user", QUESTION)], "gpt-4o-mini")
        assert usage["prompt_tokens"] == prompt
        assert usage["completion_tokens"] == count_text_tokens(content, "gpt-4o-mini")
        assert usage["total_tokens"] == usage["prompt_tokens"] + usage["completion_tokens"]
        assert usage["prompt_tokens_details"] == {"cached_tokens": 0, "audio_tokens": 0}

    async def test_stream_has_role_chunk_usage_chunk_and_done(
        self, sim: RunningSimulator, http: aiohttp.ClientSession
    ) -> None:
        url = f"{sim.base_url}/v1/chat/completions"
        body = chat_body(stream=True, stream_options={"include_usage": True})
        status, headers, text = await post(http, url, body, OPENAI_KEY)
        assert status == 200 and headers["Content-Type"].startswith("text/event-stream")
        blocks = sse_blocks(text)
        assert blocks[-1] == (None, "[DONE]")
        chunks = [json.loads(data) for _, data in blocks[:-1]]
        assert all(chunk["object"] == "chat.completion.chunk" for chunk in chunks)
        assert chunks[0]["choices"][0]["delta"] == {"role": "assistant", "content": ""}
        finish, usage_chunk = chunks[-2], chunks[-1]
        assert finish["choices"][0] == {
            "index": 0,
            "delta": {},
            "finish_reason": "stop",
            "logprobs": None,
        }
        assert usage_chunk["choices"] == [] and all(c["usage"] is None for c in chunks[:-1])
        streamed = "".join(c["choices"][0]["delta"].get("content", "") for c in chunks[:-2])
        _, _, json_text = await post(http, url, chat_body(), OPENAI_KEY)
        assert streamed == json.loads(json_text)["choices"][0]["message"]["content"]
        assert usage_chunk["usage"]["completion_tokens"] == len(chunks) - 3
        assert sim.stats().streams_completed == 1

    async def test_stream_without_include_usage_omits_usage(
        self, sim: RunningSimulator, http: aiohttp.ClientSession
    ) -> None:
        url = f"{sim.base_url}/v1/chat/completions"
        _, _, text = await post(http, url, chat_body(stream=True), OPENAI_KEY)
        chunks = [json.loads(data) for _, data in sse_blocks(text)[:-1]]
        assert all("usage" not in chunk and chunk["choices"] for chunk in chunks)

    async def test_max_tokens_truncates_with_length(
        self, sim: RunningSimulator, http: aiohttp.ClientSession
    ) -> None:
        url = f"{sim.base_url}/v1/chat/completions"
        _, _, text = await post(http, url, chat_body(max_completion_tokens=6), OPENAI_KEY)
        body = json.loads(text)
        assert body["choices"][0]["finish_reason"] == "length"
        assert body["usage"]["completion_tokens"] == 6

    async def test_repeated_long_prefix_is_reported_cached(
        self, sim: RunningSimulator, http: aiohttp.ClientSession
    ) -> None:
        url = f"{sim.base_url}/v1/chat/completions"

        def body(question: str) -> dict[str, Any]:
            return {
                "model": "gpt-4o",
                "messages": [
                    {"role": "system", "content": LONG_SYSTEM},
                    {"role": "user", "content": question},
                ],
            }

        usages = []
        for question in (QUESTION, "How do I enable 2FA?"):
            _, _, text = await post(http, url, body(question), OPENAI_KEY)
            usages.append(json.loads(text)["usage"])
        assert usages[0]["prompt_tokens_details"]["cached_tokens"] == 0
        cached = usages[1]["prompt_tokens_details"]["cached_tokens"]
        system_tokens = count_message_tokens([Message("system", LONG_SYSTEM)], "gpt-4o") - 3
        assert cached % 128 == 0 and 1024 <= cached <= system_tokens < cached + 128
        # A short prompt is never cached, however often it repeats.
        for _ in range(2):
            _, _, text = await post(http, url, chat_body(), OPENAI_KEY)
            assert json.loads(text)["usage"]["prompt_tokens_details"]["cached_tokens"] == 0


class TestAnthropicMessages:
    async def test_json_message_has_wire_shape(
        self, sim: RunningSimulator, http: aiohttp.ClientSession
    ) -> None:
        status, _, text = await post(
            http, f"{sim.base_url}/v1/messages", messages_body(max_tokens=5), ANTHROPIC_KEY
        )
        assert status == 200
        body = json.loads(text)
        assert body["type"] == "message" and body["role"] == "assistant"
        assert body["content"][0]["type"] == "text" and body["content"][0]["text"]
        assert body["stop_reason"] == "max_tokens" and body["stop_sequence"] is None
        assert body["usage"] == {
            "input_tokens": count_message_tokens([Message("user", QUESTION)], "claude"),
            "output_tokens": 5,
            "cache_creation_input_tokens": 0,
            "cache_read_input_tokens": 0,
        }

    async def test_stream_event_sequence(
        self, sim: RunningSimulator, http: aiohttp.ClientSession
    ) -> None:
        _, _, text = await post(
            http, f"{sim.base_url}/v1/messages", messages_body(stream=True), ANTHROPIC_KEY
        )
        blocks = sse_blocks(text)
        names = [name for name, _ in blocks]
        deltas = names.count("content_block_delta")
        assert names == [
            "message_start",
            "content_block_start",
            "ping",
            *["content_block_delta"] * deltas,
            "content_block_stop",
            "message_delta",
            "message_stop",
        ]
        events = [json.loads(data) for _, data in blocks]
        assert all(event["type"] == name for event, name in zip(events, names, strict=True))
        assert events[0]["message"]["usage"]["input_tokens"] > 0
        assert events[-2]["delta"]["stop_reason"] == "end_turn"
        assert events[-2]["usage"]["output_tokens"] == deltas
        text_out = "".join(e["delta"]["text"] for e in events if e["type"] == "content_block_delta")
        assert "Forgot password" in text_out

    async def test_cache_control_block_is_written_then_read(
        self, sim: RunningSimulator, http: aiohttp.ClientSession
    ) -> None:
        system = [{"type": "text", "text": LONG_SYSTEM, "cache_control": {"type": "ephemeral"}}]
        usages = []
        for question in (QUESTION, QUESTION, "How do I enable 2FA?"):
            _, _, text = await post(
                http,
                f"{sim.base_url}/v1/messages",
                messages_body(question, system=system),
                ANTHROPIC_KEY,
            )
            usages.append(json.loads(text)["usage"])
        written = usages[0]["cache_creation_input_tokens"]
        assert written >= 1024 and usages[0]["cache_read_input_tokens"] == 0
        for usage in usages[1:]:
            assert usage["cache_read_input_tokens"] == written
            assert usage["cache_creation_input_tokens"] == 0
        assert usages[0]["input_tokens"] == usages[1]["input_tokens"] < 30
        stats = sim.stats()
        assert stats.cache_write_tokens == written and stats.cached_prompt_tokens == 2 * written

    async def test_short_or_unmarked_system_is_not_cached(
        self, sim: RunningSimulator, http: aiohttp.ClientSession
    ) -> None:
        short = [{"type": "text", "text": "Be brief.", "cache_control": {"type": "ephemeral"}}]
        for system in (short, LONG_SYSTEM, short, LONG_SYSTEM):
            _, _, text = await post(
                http, f"{sim.base_url}/v1/messages", messages_body(system=system), ANTHROPIC_KEY
            )
            usage = json.loads(text)["usage"]
            assert usage["cache_creation_input_tokens"] == usage["cache_read_input_tokens"] == 0


class TestAuth:
    @pytest.mark.parametrize("headers", [{}, {"Authorization": "Bearer invalid"}])
    async def test_openai_rejects_missing_or_invalid_key(
        self, sim: RunningSimulator, http: aiohttp.ClientSession, headers: dict[str, str]
    ) -> None:
        status, _, text = await post(
            http, f"{sim.base_url}/v1/chat/completions", chat_body(), headers
        )
        assert status == 401
        assert json.loads(text)["error"]["code"] == "invalid_api_key"

    async def test_anthropic_rejects_invalid_key(
        self, sim: RunningSimulator, http: aiohttp.ClientSession
    ) -> None:
        status, _, text = await post(
            http, f"{sim.base_url}/v1/messages", messages_body(), {"x-api-key": "invalid"}
        )
        assert status == 401
        assert json.loads(text) == {
            "type": "error",
            "error": {
                "type": "authentication_error",
                "message": "Incorrect API key provided: invalid.",
            },
        }
