"""The official SDK's Responses API through the gateway to the simulator: create (string and
item input, instructions), stream, retrieve / delete / input items, function tools over two
turns with ``previous_response_id``, json_schema output, refusals and the cache."""

from __future__ import annotations

import json
from typing import Any

import aiohttp
import pytest
from openai import AsyncOpenAI, BadRequestError, NotFoundError

from tests.server.v1_drop_in.support import CACHE
from tests.support.v1 import TIME_TOOL, WEATHER_TOOL, SimGateway

pytestmark = pytest.mark.anyio

MODEL = "gpt-4o-mini"


def flat(tool: dict[str, Any]) -> dict[str, Any]:
    """A chat tool in the Responses API's flat shape."""
    return {"type": "function", **tool["function"]}


TOOLS = [flat(WEATHER_TOOL), flat(TIME_TOOL)]


class TestCreate:
    async def test_string_input(self, client: AsyncOpenAI, gw: SimGateway) -> None:
        raw = await client.responses.with_raw_response.create(
            model=MODEL, input="Say hello to the gateway", temperature=0
        )
        response = raw.parse()
        assert response.id.startswith("resp_")
        assert response.object == "response"
        assert response.status == "completed"
        assert response.output_text
        [message] = response.output
        assert message.type == "message" and message.role == "assistant"
        usage = response.usage
        assert usage is not None and usage.input_tokens > 0 and usage.output_tokens > 0
        assert usage.total_tokens == usage.input_tokens + usage.output_tokens
        assert raw.headers["x-frugal-request-id"] == response.id.removeprefix("resp_")
        assert raw.headers["x-frugal-model"]
        sent = json.loads(gw.last_received())
        assert sent["messages"] == [{"role": "user", "content": "Say hello to the gateway"}]
        assert sent["temperature"] == 0

    async def test_items_and_instructions(self, client: AsyncOpenAI, gw: SimGateway) -> None:
        response = await client.responses.create(
            model=MODEL,
            instructions="You are terse.",
            input=[
                {"role": "user", "content": [{"type": "input_text", "text": "First question"}]},
                {"role": "assistant", "content": "First answer"},
                {"type": "message", "role": "user", "content": "Second question"},
            ],
            max_output_tokens=1000,
            top_p=0.5,
            metadata={"ticket": "42"},
        )
        assert response.status == "completed"
        assert response.instructions == "You are terse."
        assert response.metadata == {"ticket": "42"}
        sent = json.loads(gw.last_received())
        assert sent["messages"] == [
            {"role": "system", "content": "You are terse."},
            {"role": "user", "content": "First question"},
            {"role": "assistant", "content": "First answer"},
            {"role": "user", "content": "Second question"},
        ]
        assert sent["max_completion_tokens"] == 1000
        assert sent["top_p"] == 0.5
        assert "max_output_tokens" not in sent and "instructions" not in sent
        assert "metadata" not in sent  # kept on the Response and with the stored response

    async def test_length_cut_is_incomplete(self, client: AsyncOpenAI) -> None:
        response = await client.responses.create(
            model=MODEL,
            input="Write a long story about a lighthouse keeper and the sea",
            max_output_tokens=16,
        )
        assert response.status == "incomplete"
        assert response.incomplete_details is not None
        assert response.incomplete_details.reason == "max_output_tokens"

    async def test_top_logprobs_come_back_on_the_text(self, client: AsyncOpenAI) -> None:
        kwargs: dict[str, Any] = {
            "model": MODEL,
            "input": "Do you ship to Malta?",
            "top_logprobs": 2,
        }
        response = await client.responses.create(**kwargs)
        part = response.output[0].content[0]  # type: ignore[union-attr]
        assert part.logprobs and all(len(entry.top_logprobs) == 2 for entry in part.logprobs)
        assert "".join(entry.token for entry in part.logprobs) == part.text
        async with client.responses.stream(**kwargs) as stream:
            events = [event async for event in stream]
        streamed = [
            lp for e in events if e.type == "response.output_text.delta" for lp in e.logprobs
        ]
        assert streamed and all(len(entry.top_logprobs) == 2 for entry in streamed)

    async def test_unknown_fields_pass_through(self, client: AsyncOpenAI, gw: SimGateway) -> None:
        await client.responses.create(
            model=MODEL, input="Hi there", extra_body={"x_vendor_flag": {"a": 1}}
        )
        assert json.loads(gw.last_received())["x_vendor_flag"] == {"a": 1}


class TestRefused:
    async def test_hosted_tool_is_a_400_naming_the_field(self, client: AsyncOpenAI) -> None:
        with pytest.raises(BadRequestError) as caught:
            await client.responses.create(
                model=MODEL, input="Search the web", tools=[{"type": "web_search"}]
            )
        assert caught.value.status_code == 400
        body: Any = caught.value.body
        assert body["param"] == "tools[0].type"
        assert "web_search" in body["message"]

    async def test_unknown_previous_response_is_a_404(self, client: AsyncOpenAI) -> None:
        with pytest.raises(NotFoundError) as caught:
            await client.responses.create(model=MODEL, input="Hi", previous_response_id="resp_nope")
        body: Any = caught.value.body
        assert body["param"] == "previous_response_id"

    @pytest.mark.parametrize(
        ("body", "param"),
        [
            (b"[1]", None),
            (b'{"model": "gpt-4o-mini"}', "input"),
            (
                b'{"model": "gpt-4o-mini", "input": [{"type": "item_reference", "id": "x"}]}',
                "input[0].type",
            ),
            (b'{"model": "gpt-4o-mini", "input": "Hi", "background": true}', "background"),
            (b'{"input": "Hi"}', "model"),
        ],
    )
    async def test_bad_bodies_are_400s_in_openai_shape(
        self, gw: SimGateway, http: aiohttp.ClientSession, body: bytes, param: str | None
    ) -> None:
        async with http.post(
            f"{gw.base_url}/v1/responses",
            data=body,
            headers={"content-type": "application/json"},
        ) as resp:
            assert resp.status == 400
            error = (await resp.json())["error"]
        assert error["type"] == "invalid_request_error"
        assert error["param"] == param


class TestStream:
    async def test_events_in_order_and_the_final_response(self, client: AsyncOpenAI) -> None:
        async with client.responses.stream(
            model=MODEL, input="Tell me about your refund policy", temperature=0
        ) as stream:
            events = [event async for event in stream]
            final = await stream.get_final_response()
        kinds = [event.type for event in events]
        assert kinds[:5] == [
            "response.created",
            "response.in_progress",
            "response.output_item.added",
            "response.content_part.added",
            "response.output_text.delta",
        ]
        assert kinds[-4:] == [
            "response.output_text.done",
            "response.content_part.done",
            "response.output_item.done",
            "response.completed",
        ]
        numbers = [event.sequence_number for event in events]
        assert numbers == list(range(len(events)))
        deltas = "".join(e.delta for e in events if e.type == "response.output_text.delta")
        assert deltas and final.output_text == deltas
        assert final.status == "completed" and final.usage is not None
        assert final.usage.output_tokens > 0
        # The stored response is the streamed one.
        again = await client.responses.retrieve(final.id)
        assert again.output_text == final.output_text
        assert [item.id for item in again.output] == [item.id for item in final.output]

    async def test_streamed_tool_calls(self, client: AsyncOpenAI) -> None:
        async with client.responses.stream(
            model=MODEL,
            input="Tell me the weather and the local time in Bergen for 2 days",
            tools=TOOLS,
            temperature=0,
        ) as stream:
            events = [event async for event in stream]
            final = await stream.get_final_response()
        calls = [item for item in final.output if item.type == "function_call"]
        assert [c.name for c in calls] == ["get_weather", "get_time"]
        assert json.loads(calls[0].arguments) == {"city": "weather", "days": 2}
        done = [e for e in events if e.type == "response.function_call_arguments.done"]
        assert [e.arguments for e in done] == [c.arguments for c in calls]
        deltas = [e for e in events if e.type == "response.function_call_arguments.delta"]
        assert deltas and all(e.item_id in {c.id for c in calls} for e in deltas)
        assert events[-1].type == "response.completed"


class TestStored:
    async def test_retrieve_input_items_delete(self, client: AsyncOpenAI) -> None:
        created = await client.responses.create(
            model=MODEL,
            input=[
                {"role": "user", "content": "One"},
                {"role": "assistant", "content": "Two"},
                {"role": "user", "content": "Three"},
            ],
        )
        got = await client.responses.retrieve(created.id)
        assert got.id == created.id and got.output_text == created.output_text
        page = await client.responses.input_items.list(created.id, order="asc")
        texts = [item.content[0].text for item in page.data]  # type: ignore[union-attr]
        assert texts == ["One", "Two", "Three"]
        assert all(item.id for item in page.data)
        first = await client.responses.input_items.list(created.id, limit=2)
        assert [i.content[0].text for i in first.data] == ["Three", "Two"]  # type: ignore[union-attr]
        assert first.has_more is True
        await client.responses.delete(created.id)
        with pytest.raises(NotFoundError):
            await client.responses.retrieve(created.id)
        with pytest.raises(NotFoundError):
            await client.responses.delete(created.id)

    async def test_store_false_is_not_kept(self, client: AsyncOpenAI) -> None:
        created = await client.responses.create(model=MODEL, input="Hello", store=False)
        assert created.store is False
        with pytest.raises(NotFoundError):
            await client.responses.retrieve(created.id)


class TestTools:
    async def test_two_turns_with_previous_response_id(
        self, client: AsyncOpenAI, gw: SimGateway
    ) -> None:
        first = await client.responses.create(
            model=MODEL,
            instructions="Use the tools.",
            input="What is the weather in Oslo for 4 days?",
            tools=TOOLS,
            temperature=0,
        )
        [call] = [item for item in first.output if item.type == "function_call"]
        assert call.name == "get_weather"
        assert json.loads(call.arguments) == {"city": "weather", "days": 4}
        assert call.call_id
        sent = json.loads(gw.last_received())
        assert sent["tools"] == [WEATHER_TOOL, TIME_TOOL]
        final = await client.responses.create(
            model=MODEL,
            previous_response_id=first.id,
            input=[{"type": "function_call_output", "call_id": call.call_id, "output": "Snow"}],
            tools=TOOLS,
            temperature=0,
        )
        assert "Based on get_weather: Snow" in final.output_text
        assert final.previous_response_id == first.id
        messages = json.loads(gw.last_received())["messages"]
        # The stored conversation comes first; instructions are not carried over (as OpenAI).
        assert [m["role"] for m in messages] == ["user", "assistant", "tool"]
        assert messages[1]["tool_calls"][0]["id"] == call.call_id
        assert messages[2] == {"role": "tool", "tool_call_id": call.call_id, "content": "Snow"}

    async def test_tool_choice_and_parallel_calls(
        self, client: AsyncOpenAI, gw: SimGateway
    ) -> None:
        response = await client.responses.create(
            model=MODEL,
            input="Tell me the weather and the local time in Porto",
            tools=TOOLS,
            tool_choice={"type": "function", "name": "get_time"},
            parallel_tool_calls=False,
            temperature=0,
        )
        assert [i.name for i in response.output if i.type == "function_call"] == ["get_time"]
        sent = json.loads(gw.last_received())
        assert sent["tool_choice"] == {"type": "function", "function": {"name": "get_time"}}
        assert sent["parallel_tool_calls"] is False


class TestStructuredOutput:
    async def test_json_schema_via_text_format(self, client: AsyncOpenAI, gw: SimGateway) -> None:
        schema = {
            "type": "object",
            "properties": {"answer": {"type": "string"}, "score": {"type": "integer"}},
            "required": ["answer", "score"],
            "additionalProperties": False,
        }
        response = await client.responses.create(
            model=MODEL,
            input="Rate how easy it is to change my billing address.",
            text={
                "format": {
                    "type": "json_schema",
                    "name": "rating",
                    "schema": schema,
                    "strict": True,
                }
            },
            temperature=0,
        )
        value = json.loads(response.output_text)
        assert isinstance(value["answer"], str) and isinstance(value["score"], int)
        sent = json.loads(gw.last_received())
        assert sent["response_format"] == {
            "type": "json_schema",
            "json_schema": {"name": "rating", "schema": schema, "strict": True},
        }


class TestCacheAndCost:
    async def test_repeat_is_an_exact_hit_in_the_responses_shape(self, client: AsyncOpenAI) -> None:
        kwargs: dict[str, Any] = {
            "model": MODEL,
            "input": "Do you ship to Norway?",
            "temperature": 0,
        }
        first = await client.responses.with_raw_response.create(**kwargs)
        again = await client.responses.with_raw_response.create(**kwargs)
        assert first.headers[CACHE] == "miss" and again.headers[CACHE] == "exact"
        one, two = first.parse(), again.parse()
        assert one.output_text == two.output_text and one.id != two.id
        assert again.headers["x-frugal-cost-usd-micros"] == "0"
        # A streamed repeat is served from the same entry.
        raw = await client.responses.with_raw_response.create(**kwargs, stream=True)
        assert raw.headers[CACHE] == "exact"
        events = [event async for event in raw.parse()]
        assert events[-1].type == "response.completed"
        assert events[-1].response.output_text == one.output_text

    async def test_a_chat_completion_with_the_same_body_shares_the_entry(
        self, client: AsyncOpenAI
    ) -> None:
        question = "Do you ship to Finland?"
        chat = await client.chat.completions.with_raw_response.create(
            model=MODEL, messages=[{"role": "user", "content": question}], temperature=0
        )
        assert chat.headers[CACHE] == "miss"
        raw = await client.responses.with_raw_response.create(
            model=MODEL, input=question, temperature=0
        )
        assert raw.headers[CACHE] == "exact"
        assert raw.parse().output_text == chat.parse().choices[0].message.content

    async def test_cost_header_equals_the_stats_delta(
        self, client: AsyncOpenAI, gw: SimGateway, http: aiohttp.ClientSession
    ) -> None:
        async def total_cost() -> int:
            async with http.get(f"{gw.base_url}/stats") as response:
                return int((await response.json())["cost_usd_micros"])

        before = await total_cost()
        raw = await client.responses.with_raw_response.create(
            model=MODEL, input="Can I change my delivery date?"
        )
        cost = int(raw.headers["x-frugal-cost-usd-micros"])
        assert cost > 0
        assert await total_cost() - before == cost


class TestThroughTheCore:
    async def test_an_anthropic_model_answers_with_tools_over_two_turns(
        self, client: AsyncOpenAI, gw: SimGateway
    ) -> None:
        model = "claude-haiku-4-5"
        first = await client.responses.create(
            model=model, input="What is the weather in Oslo for 4 days?", tools=TOOLS
        )
        assert first.model.startswith(model)
        [call] = [item for item in first.output if item.type == "function_call"]
        assert call.name == "get_weather"
        sent = json.loads(gw.last_received("/v1/messages"))
        assert sent["tools"][0]["name"] == "get_weather"
        async with client.responses.stream(
            model=model,
            previous_response_id=first.id,
            input=[{"type": "function_call_output", "call_id": call.call_id, "output": "Rain"}],
            tools=TOOLS,
        ) as stream:
            final = await stream.get_final_response()
        assert "Rain" in final.output_text
        assert final.usage is not None and final.usage.output_tokens > 0

    async def test_auto_is_routed(self, client: AsyncOpenAI) -> None:
        raw = await client.responses.with_raw_response.create(
            model="auto", input="How do I reset my password?"
        )
        assert raw.headers["x-frugal-route"] in ("cheap", "strong")
        assert raw.parse().model == raw.headers["x-frugal-model"]


class TestFailure:
    async def test_a_broken_stream_ends_with_error_and_response_failed(
        self, client: AsyncOpenAI, gw: SimGateway, http: aiohttp.ClientSession
    ) -> None:
        # Every model the request may reach breaks, so the fallback cannot rescue it.
        models = {"gpt-4o", gw.gateway.settings.models.fallback}

        async def pin(fault: str | None) -> None:
            for model in models:
                body = {"model": model, "fault": fault}
                async with http.put(f"{gw.sim.base_url}/_sim/faults", json=body) as response:
                    assert response.status == 200

        await pin("disconnect")
        try:
            stream = await client.responses.create(
                model="gpt-4o", input="What payment methods do you take?", stream=True
            )
            events = [event async for event in stream]
        finally:
            await pin(None)
        kinds = [event.type for event in events]
        assert kinds[:2] == ["response.created", "response.in_progress"]
        assert kinds[-2:] == ["error", "response.failed"]
        error, failed = events[-2], events[-1]
        assert error.code == "stream_interrupted"  # type: ignore[union-attr]
        assert failed.response.status == "failed"  # type: ignore[union-attr]
        assert failed.response.error is not None  # type: ignore[union-attr]
        numbers = [event.sequence_number for event in events]
        assert numbers == list(range(len(events)))
