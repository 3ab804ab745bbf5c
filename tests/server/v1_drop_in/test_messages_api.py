"""``/v1/messages`` with the official ``anthropic`` SDK, through the real gateway to the
upstream simulator: natively to an Anthropic model, translated to an OpenAI-compatible one."""

from __future__ import annotations

import base64
import json
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import anyio
import pytest
from anthropic import Anthropic, AsyncAnthropic

from tests.support.billing import hand_priced
from tests.support.sim_http import LONG_SYSTEM
from tests.support.v1 import SimGateway

CLAUDE = "claude-haiku-4-5"
GPT = "gpt-4o-mini"
MODELS = pytest.mark.parametrize("model", [CLAUDE, GPT])
pytestmark = pytest.mark.anyio
WEATHER = {
    "name": "get_weather",
    "description": "Current weather for a city",
    "input_schema": {
        "type": "object",
        "properties": {"city": {"type": "string"}},
        "required": ["city"],
    },
}
# A 1x1 transparent PNG.
PIXEL = base64.b64encode(
    bytes.fromhex(
        "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
        "1f15c4890000000d49444154789c6360000002000100e221bc330000000049454e44ae426082"
    )
).decode()


@pytest.fixture
async def claude(gw: SimGateway) -> AsyncIterator[AsyncAnthropic]:
    async with AsyncAnthropic(base_url=gw.base_url, api_key="k", max_retries=0) as client:
        yield client


def user(text: str) -> list[dict[str, Any]]:
    return [{"role": "user", "content": text}]


def text_of(message: Any) -> str:
    return "".join(block.text for block in message.content if block.type == "text")


class TestCreate:
    @MODELS
    async def test_async_create_answers_in_anthropic_shape(
        self, claude: AsyncAnthropic, model: str
    ) -> None:
        raw = await claude.messages.with_raw_response.create(
            model=model, max_tokens=200, messages=user(f"What is Frugal? ({model})")
        )
        message = await raw.parse()
        assert message.type == "message" and message.role == "assistant"
        assert message.model.startswith(model)
        assert text_of(message)
        assert message.stop_reason == "end_turn"
        assert message.usage.input_tokens > 0 and message.usage.output_tokens > 0
        assert raw.headers["x-frugal-model"] == model
        assert raw.headers["x-frugal-cache"] == "miss"
        assert int(raw.headers["x-frugal-cost-usd-micros"]) > 0

    @MODELS
    async def test_sync_client_works(self, gw: SimGateway, model: str) -> None:
        def ask() -> Any:
            with Anthropic(base_url=gw.base_url, api_key="k", max_retries=0) as client:
                return client.messages.create(
                    model=model, max_tokens=100, messages=user(f"Say hello ({model}, sync)")
                )

        message = await anyio.to_thread.run_sync(ask)
        assert text_of(message) and message.stop_reason == "end_turn"

    @MODELS
    async def test_stream_text_and_final_message(self, claude: AsyncAnthropic, model: str) -> None:
        async with claude.messages.stream(
            model=model, max_tokens=200, messages=user(f"Tell me about caching ({model})")
        ) as stream:
            pieces = [text async for text in stream.text_stream]
            final = await stream.get_final_message()
        assert len(pieces) > 1
        assert "".join(pieces) == text_of(final)
        assert final.stop_reason == "end_turn"
        assert final.usage.input_tokens > 0 and final.usage.output_tokens > 0

    @MODELS
    async def test_tool_use_over_two_turns(self, claude: AsyncAnthropic, model: str) -> None:
        question = user(f"What is the weather in Paris? Use the tool. ({model})")
        first = await claude.messages.create(
            model=model, max_tokens=300, messages=question, tools=[WEATHER]
        )
        assert first.stop_reason == "tool_use"
        [call] = [block for block in first.content if block.type == "tool_use"]
        assert call.name == "get_weather" and isinstance(call.input, dict)
        assert "city" in call.input
        follow_up = [
            *question,
            {"role": "assistant", "content": [b.model_dump() for b in first.content]},
            {
                "role": "user",
                "content": [
                    {"type": "tool_result", "tool_use_id": call.id, "content": "Sunny, 24 C"}
                ],
            },
        ]
        final = await claude.messages.create(
            model=model, max_tokens=300, messages=follow_up, tools=[WEATHER]
        )
        assert final.stop_reason == "end_turn"
        assert text_of(final)

    @MODELS
    async def test_streamed_tool_call_arrives_as_input_json(
        self, claude: AsyncAnthropic, model: str
    ) -> None:
        async with claude.messages.stream(
            model=model,
            max_tokens=300,
            messages=user(f"Weather in Oslo? Use the tool. ({model}, stream)"),
            tools=[WEATHER],
        ) as stream:
            final = await stream.get_final_message()
        [call] = [block for block in final.content if block.type == "tool_use"]
        assert final.stop_reason == "tool_use" and "city" in call.input

    @MODELS
    async def test_image_block(self, claude: AsyncAnthropic, model: str) -> None:
        content = [
            {
                "type": "image",
                "source": {"type": "base64", "media_type": "image/png", "data": PIXEL},
            },
            {"type": "text", "text": f"What is in this picture? ({model})"},
        ]
        message = await claude.messages.create(
            model=model, max_tokens=100, messages=[{"role": "user", "content": content}]
        )
        assert text_of(message)

    @MODELS
    async def test_count_tokens(self, gw: SimGateway, claude: AsyncAnthropic, model: str) -> None:
        before = gw.sim.state.stats.requests.get("messages.count_tokens", 0)
        counted = await claude.messages.count_tokens(
            model=model, messages=user("How many tokens is this question?"), tools=[WEATHER]
        )
        assert counted.input_tokens > 5
        after = gw.sim.state.stats.requests.get("messages.count_tokens", 0)
        assert after - before == (1 if model == CLAUDE else 0)


class TestNative:
    async def test_body_reaches_the_provider_byte_for_byte(
        self, gw: SimGateway, http: aiohttp.ClientSession
    ) -> None:
        raw = (
            b'{ "model" : "claude-haiku-4-5", "max_tokens": 50, "top_k": 3,\n'
            b' "an_unknown_field": {"kept": true},'
            b' "messages": [{"role": "user", "content": [{"type": "text", "text": "Hi there",'
            b' "cache_control": {"type": "ephemeral"}}]}]}'
        )
        headers = {"x-api-key": "k", "anthropic-beta": "some-beta-2025", "content-type": "a/j"}
        async with http.post(f"{gw.base_url}/v1/messages", data=raw, headers=headers) as response:
            assert response.status == 200, await response.text()
            body = await response.json()
        assert body["id"].startswith("msg_sim")  # the provider's own message
        [seen] = [r for r in gw.sim.state.received() if r.raw == raw]
        assert seen.path == "/v1/messages"
        assert seen.headers.get("anthropic-beta") == "some-beta-2025"

    async def test_stream_is_relayed_event_for_event(
        self, gw: SimGateway, http: aiohttp.ClientSession
    ) -> None:
        body = {
            "model": CLAUDE,
            "max_tokens": 100,
            "stream": True,
            "messages": user("Stream me a short answer, natively"),
        }
        async with http.post(
            f"{gw.base_url}/v1/messages", json=body, headers={"x-api-key": "k"}
        ) as response:
            assert response.status == 200
            text = await response.text()
        names = [line[7:] for line in text.splitlines() if line.startswith("event: ")]
        assert names[0] == "message_start" and "ping" in names
        assert names[-2:] == ["message_delta", "message_stop"]
        start = json.loads(text.split("data: ", 1)[1].split("\n", 1)[0])
        assert start["message"]["id"].startswith("msg_sim")

    async def test_thinking_streams_natively(self, claude: AsyncAnthropic) -> None:
        async with claude.messages.stream(
            model=CLAUDE,
            max_tokens=2048,
            thinking={"type": "enabled", "budget_tokens": 1024},
            messages=user("Think first: why cache prompts?"),
        ) as stream:
            kinds = [
                event.delta.type async for event in stream if event.type == "content_block_delta"
            ]
            final = await stream.get_final_message()
        assert "thinking_delta" in kinds and "text_delta" in kinds
        assert [block.type for block in final.content][:1] == ["thinking"]
        assert text_of(final)

    async def test_prompt_cache_buckets_are_reported_and_priced(
        self, gw: SimGateway, claude: AsyncAnthropic
    ) -> None:
        system = [{"type": "text", "text": LONG_SYSTEM, "cache_control": {"type": "ephemeral"}}]
        answers = []
        for question in ("How do I reset my password?", "Where is my order?"):
            raw = await claude.messages.with_raw_response.create(
                model=CLAUDE, max_tokens=100, system=system, messages=user(question)
            )
            answers.append((await raw.parse(), int(raw.headers["x-frugal-cost-usd-micros"])))
        (written, written_cost), (read, read_cost) = answers
        assert written.usage.cache_creation_input_tokens > 1000
        assert read.usage.cache_read_input_tokens == written.usage.cache_creation_input_tokens
        for message, cost in answers:
            u = message.usage
            assert cost == hand_priced(
                CLAUDE,
                plain=u.input_tokens,
                cached=u.cache_read_input_tokens or 0,
                written=u.cache_creation_input_tokens or 0,
                output=u.output_tokens,
            )
        assert read_cost < written_cost


class TestCacheReplay:
    @MODELS
    async def test_exact_hit_replays_a_whole_message(
        self, claude: AsyncAnthropic, model: str
    ) -> None:
        ask: dict[str, Any] = {
            "model": model,
            "max_tokens": 200,
            "extra_body": {"temperature": 0},  # this SDK has no temperature argument
            "messages": user(f"What is your refund policy? ({model}, whole)"),
        }
        first = await claude.messages.with_raw_response.create(**ask)
        again = await claude.messages.with_raw_response.create(**ask)
        assert first.headers["x-frugal-cache"] == "miss"
        assert again.headers["x-frugal-cache"] == "exact"
        assert again.headers["x-frugal-cost-usd-micros"] == "0"
        one, two = await first.parse(), await again.parse()
        assert text_of(two) == text_of(one)
        assert two.stop_reason == one.stop_reason
        assert two.usage.output_tokens == one.usage.output_tokens

    @MODELS
    async def test_exact_hit_replays_as_an_event_stream(
        self, claude: AsyncAnthropic, model: str
    ) -> None:
        ask: dict[str, Any] = {
            "model": model,
            "max_tokens": 200,
            "extra_body": {"temperature": 0},  # this SDK has no temperature argument
            "messages": user(f"Do you ship to Canada? ({model}, stream)"),
        }
        finals = []
        for expected in ("miss", "exact"):
            async with claude.messages.stream(**ask) as stream:
                assert stream.response.headers["x-frugal-cache"] == expected
                pieces = [text async for text in stream.text_stream]
                finals.append((await stream.get_final_message(), "".join(pieces)))
        (first, first_text), (second, second_text) = finals
        assert second_text == first_text == text_of(first) == text_of(second)
        assert second.stop_reason == first.stop_reason == "end_turn"
