"""The simulator's ``/v1/responses``: a Response object and the Responses event stream,
function calls from the shared tool rule, json_schema via ``text.format``, the request
record, and the faults chat completions has."""

from __future__ import annotations

import json
from typing import Any

import aiohttp
import pytest

from tests.support.sim_http import OPENAI_KEY, QUESTION, post, sse_blocks
from tests.support.simulator import RunningSimulator

pytestmark = pytest.mark.anyio

PATH = "/v1/responses"
WEATHER = {
    "type": "function",
    "name": "get_weather",
    "description": "Current weather for a city",
    "parameters": {
        "type": "object",
        "properties": {"city": {"type": "string"}},
        "required": ["city"],
    },
}


def body(**extra: Any) -> dict[str, Any]:
    return {"model": "gpt-4o-mini", "input": QUESTION, **extra}


async def ask(sim: RunningSimulator, http: aiohttp.ClientSession, **extra: Any) -> Any:
    status, _, text = await post(http, f"{sim.base_url}{PATH}", body(**extra), OPENAI_KEY)
    assert status == 200, text
    return text


class TestWhole:
    async def test_a_response_with_usage(
        self, sim: RunningSimulator, http: aiohttp.ClientSession
    ) -> None:
        response = json.loads(await ask(sim, http, instructions="Be brief."))
        assert response["object"] == "response" and response["status"] == "completed"
        [message] = response["output"]
        assert message["type"] == "message" and message["content"][0]["text"]
        usage = response["usage"]
        assert usage["input_tokens"] > 0 and usage["output_tokens"] > 0
        assert usage["total_tokens"] == usage["input_tokens"] + usage["output_tokens"]
        assert sim.stats().requests["responses"] == 1

    async def test_function_calls_then_the_result(
        self, sim: RunningSimulator, http: aiohttp.ClientSession
    ) -> None:
        first = json.loads(
            await ask(sim, http, input="What is the weather in Oslo?", tools=[WEATHER])
        )
        [call] = first["output"]
        assert call["type"] == "function_call" and call["name"] == "get_weather"
        assert "city" in json.loads(call["arguments"])
        items = [
            {"role": "user", "content": "What is the weather in Oslo?"},
            call,
            {"type": "function_call_output", "call_id": call["call_id"], "output": "Sleet"},
        ]
        second = json.loads(await ask(sim, http, input=items, tools=[WEATHER]))
        assert "Sleet" in second["output"][0]["content"][0]["text"]

    async def test_json_schema_format(
        self, sim: RunningSimulator, http: aiohttp.ClientSession
    ) -> None:
        schema = {
            "type": "object",
            "properties": {"city": {"type": "string"}, "days": {"type": "integer"}},
            "required": ["city", "days"],
        }
        fmt = {"format": {"type": "json_schema", "name": "trip", "schema": schema}}
        response = json.loads(await ask(sim, http, text=fmt))
        answer = json.loads(response["output"][0]["content"][0]["text"])
        assert isinstance(answer["city"], str) and isinstance(answer["days"], int)

    async def test_recorded_byte_for_byte(
        self, sim: RunningSimulator, http: aiohttp.ClientSession
    ) -> None:
        raw = b'{"model":"gpt-4o-mini",  "input":"Hi", "x_unknown":true}'
        headers = {**OPENAI_KEY, "Content-Type": "application/json"}
        async with http.post(f"{sim.base_url}{PATH}", data=raw, headers=headers) as response:
            assert response.status == 200
        async with http.get(f"{sim.base_url}/_sim/requests") as response:
            seen = (await response.json())[-1]
        assert seen["path"] == PATH and seen["body"] == raw.decode()


class TestStream:
    async def test_the_event_sequence(
        self, sim: RunningSimulator, http: aiohttp.ClientSession
    ) -> None:
        events = [
            (name, json.loads(data)) for name, data in sse_blocks(await ask(sim, http, stream=True))
        ]
        names = [name for name, _ in events]
        assert names[:4] == [
            "response.created",
            "response.in_progress",
            "response.output_item.added",
            "response.content_part.added",
        ]
        assert names[-4:] == [
            "response.output_text.done",
            "response.content_part.done",
            "response.output_item.done",
            "response.completed",
        ]
        assert [data["sequence_number"] for _, data in events] == list(range(len(events)))
        text = "".join(d["delta"] for n, d in events if n == "response.output_text.delta")
        final = events[-1][1]["response"]
        assert final["output"][0]["content"][0]["text"] == text
        assert final["usage"]["output_tokens"] > 0

    async def test_streamed_function_call(
        self, sim: RunningSimulator, http: aiohttp.ClientSession
    ) -> None:
        text = await ask(sim, http, input="Weather in Oslo?", tools=[WEATHER], stream=True)
        events = [(name, json.loads(data)) for name, data in sse_blocks(text)]
        arguments = "".join(
            d["delta"] for n, d in events if n == "response.function_call_arguments.delta"
        )
        [done] = [d for n, d in events if n == "response.function_call_arguments.done"]
        assert arguments == done["arguments"] and json.loads(arguments)["city"]


class TestFaults:
    async def test_a_500(self, sim: RunningSimulator, http: aiohttp.ClientSession) -> None:
        headers = {**OPENAI_KEY, "x-sim-fault": "500"}
        status, _, text = await post(http, f"{sim.base_url}{PATH}", body(), headers)
        assert status == 500 and "error" in json.loads(text)

    async def test_no_done_ends_without_completed(
        self, sim: RunningSimulator, http: aiohttp.ClientSession
    ) -> None:
        headers = {**OPENAI_KEY, "x-sim-fault": "no_done"}
        status, _, text = await post(http, f"{sim.base_url}{PATH}", body(stream=True), headers)
        assert status == 200
        names = [name for name, _ in sse_blocks(text)]
        assert "response.output_text.delta" in names and "response.completed" not in names

    async def test_bad_input_is_a_400(
        self, sim: RunningSimulator, http: aiohttp.ClientSession
    ) -> None:
        status, _, _ = await post(http, f"{sim.base_url}{PATH}", {"model": "m"}, OPENAI_KEY)
        assert status == 400
