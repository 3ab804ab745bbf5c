"""The official SDK through the gateway to the simulator: tools, structured output, choices,
logprobs, images, stop and length."""

from __future__ import annotations

import json
from typing import Any

import pytest
from openai import AsyncOpenAI

from tests.server.v1_drop_in.support import (
    CACHE,
    create_raw,
    miss_then_hit,
)
from tests.support.openai_sdk import user
from tests.support.v1 import (
    TOOLS,
    SimGateway,
    fold_tool_call_deltas,
    streamed_text,
    tool_calls_of,
)

pytestmark = pytest.mark.anyio


class TestTools:
    async def test_two_turn_tool_conversation_and_its_cache_hits(self, client: AsyncOpenAI) -> None:
        question = "What is the weather in Oslo for 4 days?"
        messages: list[Any] = user(question)
        first = await miss_then_hit(
            client, model="gpt-4o-mini", messages=messages, tools=TOOLS, temperature=0
        )
        choice = first.choices[0]
        assert choice.finish_reason == "tool_calls"
        assert tool_calls_of(first) == [("get_weather", {"city": "weather", "days": 4})]
        [call] = choice.message.tool_calls
        messages = [
            *messages,
            choice.message.model_dump(exclude_none=True),
            {"role": "tool", "tool_call_id": call.id, "content": "Snow, -3 C"},
        ]
        final = await miss_then_hit(
            client, model="gpt-4o-mini", messages=messages, tools=TOOLS, temperature=0
        )
        assert final.choices[0].finish_reason == "stop"
        assert "Based on get_weather: Snow, -3 C" in (final.choices[0].message.content or "")

    async def test_parallel_tool_calls_and_results(self, client: AsyncOpenAI) -> None:
        question = "Tell me the weather and the local time in Lisbon"
        first = await miss_then_hit(
            client, model="gpt-4o-mini", messages=user(question), tools=TOOLS, temperature=0
        )
        calls = first.choices[0].message.tool_calls
        assert [c.function.name for c in calls] == ["get_weather", "get_time"]
        assert len({c.id for c in calls}) == 2
        results = {"get_weather": "Cloudy, 17 C", "get_time": "14:05"}
        messages = [
            *user(question),
            first.choices[0].message.model_dump(exclude_none=True),
            *(
                {"role": "tool", "tool_call_id": c.id, "content": results[c.function.name]}
                for c in calls
            ),
        ]
        final = await client.chat.completions.create(
            model="gpt-4o-mini", messages=messages, tools=TOOLS, temperature=0
        )
        text = final.choices[0].message.content or ""
        assert "Cloudy, 17 C" in text and "14:05" in text

    async def test_parallel_tool_calls_false_gives_one_call(self, client: AsyncOpenAI) -> None:
        question = "Tell me the weather and the local time in Porto"
        completion = await miss_then_hit(
            client,
            model="gpt-4o-mini",
            messages=user(question),
            tools=TOOLS,
            parallel_tool_calls=False,
            temperature=0,
        )
        assert [name for name, _ in tool_calls_of(completion)] == ["get_weather"]

    async def test_streamed_tool_calls_equal_the_whole_ones(self, client: AsyncOpenAI) -> None:
        question = "Tell me the weather and the local time in Bergen for 2 days"
        kwargs: dict[str, Any] = {
            "model": "gpt-4o-mini",
            "messages": user(question),
            "tools": TOOLS,
            "temperature": 0,
        }
        whole = await client.chat.completions.create(**kwargs, extra_headers={CACHE: "no-cache"})
        expected = [
            {"id": c.id, "name": c.function.name, "arguments": c.function.arguments}
            for c in whole.choices[0].message.tool_calls or []
        ]
        assert len(expected) == 2
        stream = await client.chat.completions.create(
            **kwargs, stream=True, extra_headers={CACHE: "no-cache"}
        )
        chunks = [chunk async for chunk in stream]
        assert fold_tool_call_deltas(chunks) == expected
        assert chunks[-1].choices[0].finish_reason == "tool_calls"
        # The SDK's stream helper assembles the same calls (first a miss, then an exact hit).
        for cache in ("miss", "exact"):
            async with client.chat.completions.stream(**kwargs) as helper:
                final = await helper.get_final_completion()
            assert [
                {"id": c.id, "name": c.function.name, "arguments": c.function.arguments}
                for c in final.choices[0].message.tool_calls or []
            ] == expected, cache
            assert final.choices[0].finish_reason == "tool_calls"


class TestStructuredOutput:
    SCHEMA: dict[str, Any] = {  # noqa: RUF012
        "type": "object",
        "properties": {
            "answer": {"type": "string"},
            "score": {"type": "integer", "minimum": 1, "maximum": 5},
            "tags": {"type": "array", "items": {"type": "string"}},
            "kind": {"enum": ["faq", "other"]},
        },
        "required": ["answer", "score", "tags", "kind"],
        "additionalProperties": False,
    }

    async def test_json_schema_strict_is_an_instance_and_cached(self, client: AsyncOpenAI) -> None:
        fmt = {
            "type": "json_schema",
            "json_schema": {"name": "faq", "schema": self.SCHEMA, "strict": True},
        }
        completion = await miss_then_hit(
            client,
            model="gpt-4o-mini",
            messages=user("Rate how easy it is to change my billing address."),
            response_format=fmt,
            temperature=0,
        )
        value = json.loads(completion.choices[0].message.content or "")
        assert set(value) == {"answer", "score", "tags", "kind"}
        assert isinstance(value["answer"], str)
        assert isinstance(value["score"], int) and 1 <= value["score"] <= 5
        assert isinstance(value["tags"], list) and all(isinstance(t, str) for t in value["tags"])
        assert value["kind"] in ("faq", "other")

    async def test_json_object(self, client: AsyncOpenAI) -> None:
        completion = await miss_then_hit(
            client,
            model="gpt-4o-mini",
            messages=user("Answer in JSON: how do I update my shipping address?"),
            response_format={"type": "json_object"},
            temperature=0,
        )
        assert isinstance(json.loads(completion.choices[0].message.content or ""), dict)


class TestChoicesAndLogprobs:
    async def test_n_two_gives_two_choices_and_is_not_cached(self, client: AsyncOpenAI) -> None:
        kwargs: dict[str, Any] = {
            "model": "gpt-4o-mini",
            "messages": user("Which languages does your support team speak?"),
            "n": 2,
            "seed": 11,
        }
        first, cache = await create_raw(client, **kwargs)
        assert cache == "miss"
        assert [c.index for c in first.choices] == [0, 1]
        assert all(c.message.content for c in first.choices)
        _, cache = await create_raw(client, **kwargs)
        assert cache == "miss"

    async def test_logprobs_are_present_and_replayed(self, client: AsyncOpenAI) -> None:
        completion = await miss_then_hit(
            client,
            model="gpt-4o-mini",
            messages=user("Do you ship to Iceland?"),
            logprobs=True,
            top_logprobs=2,
            temperature=0,
        )
        logprobs = completion.choices[0].logprobs
        assert logprobs is not None and logprobs.content
        assert all(len(entry.top_logprobs) == 2 for entry in logprobs.content)
        assert completion.usage is not None
        assert completion.usage.completion_tokens == len(logprobs.content)

    async def test_streamed_hit_replays_logprobs(self, client: AsyncOpenAI) -> None:
        kwargs: dict[str, Any] = {
            "model": "gpt-4o-mini",
            "messages": user("Do you ship to Greenland?"),
            "logprobs": True,
            "top_logprobs": 1,
            "temperature": 0,
        }
        whole = await client.chat.completions.create(**kwargs)
        raw = await client.chat.completions.with_raw_response.create(**kwargs, stream=True)
        assert raw.headers[CACHE] == "exact"
        chunks = [chunk async for chunk in raw.parse()]
        tokens = [
            entry.token
            for chunk in chunks
            for choice in chunk.choices
            if choice.logprobs is not None
            for entry in choice.logprobs.content or ()
        ]
        assert whole.choices[0].logprobs is not None
        assert tokens == [e.token for e in whole.choices[0].logprobs.content or ()]
        assert streamed_text(chunks) == whole.choices[0].message.content


class TestImagesStopAndLength:
    async def test_image_part_is_accepted_and_forwarded(
        self, gw: SimGateway, client: AsyncOpenAI
    ) -> None:
        url = (
            "data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR4"
            "nGNgYGD4DwABBAEAHnOcQAAAAABJRU5ErkJggg=="
        )
        messages: Any = [
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "What is shown in this receipt photo?"},
                    {"type": "image_url", "image_url": {"url": url, "detail": "low"}},
                ],
            }
        ]
        completion = await miss_then_hit(
            client, model="gpt-4o-mini", messages=messages, temperature=0
        )
        assert completion.choices[0].message.content
        sent = json.loads(gw.last_received())
        assert sent["messages"] == messages

    async def test_stop_sequence(self, client: AsyncOpenAI) -> None:
        question = "How do I reset my password?"
        plain = await client.chat.completions.create(
            model="gpt-4o-mini",
            messages=user(question),
            temperature=0,
            extra_headers={CACHE: "no-cache"},
        )
        assert "password" in (plain.choices[0].message.content or "").lower()
        stopped = await miss_then_hit(
            client, model="gpt-4o-mini", messages=user(question), stop=["password"], temperature=0
        )
        content = stopped.choices[0].message.content or ""
        assert "password" not in content
        assert stopped.choices[0].finish_reason == "stop"

    async def test_length_cut_is_not_cached(self, client: AsyncOpenAI) -> None:
        kwargs: dict[str, Any] = {
            "model": "gpt-4o-mini",
            "messages": user("Describe your premium plan in detail."),
            "max_completion_tokens": 3,
            "temperature": 0,
        }
        first, cache = await create_raw(client, **kwargs)
        assert cache == "miss"
        assert first.choices[0].finish_reason == "length"
        assert first.usage is not None and first.usage.completion_tokens == 3
        _, cache = await create_raw(client, **kwargs)
        assert cache == "miss"
