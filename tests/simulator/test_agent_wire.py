"""The simulator's agent-facing wire: tools, formats, choices, limits and recorded requests."""

from __future__ import annotations

import json
from typing import Any

import aiohttp
import pytest

from tests.support.sim_http import (
    ANTHROPIC_KEY,
    OPENAI_KEY,
    chat_body,
    messages_body,
    post,
    sse_blocks,
)
from tests.support.simulator import RunningSimulator

pytestmark = pytest.mark.anyio

WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Current weather for a city",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string"}, "days": {"type": "integer"}},
            "required": ["city"],
        },
    },
}
QUESTION = "What is the weather in Amsterdam for 3 days?"


async def chat(sim: RunningSimulator, http: aiohttp.ClientSession, **body: Any) -> Any:
    status, _, text = await post(http, f"{sim.base_url}/v1/chat/completions", body, OPENAI_KEY)
    assert status == 200, text
    return json.loads(text) if not body.get("stream") else text


class TestOpenAITools:
    async def test_tool_call_is_deterministic(
        self, sim: RunningSimulator, http: aiohttp.ClientSession
    ) -> None:
        first = await chat(sim, http, **chat_body(QUESTION, tools=[WEATHER]))
        again = await chat(sim, http, **chat_body(QUESTION, tools=[WEATHER]))
        choice = first["choices"][0]
        assert choice["finish_reason"] == "tool_calls" and choice["message"]["content"] is None
        (call,) = choice["message"]["tool_calls"]
        assert call["id"].startswith("call_") and len(call["id"]) == len("call_") + 12
        assert call["function"]["name"] == "get_weather"
        assert json.loads(call["function"]["arguments"]) == {"city": "Amsterdam", "days": 3}
        assert again["choices"][0]["message"]["tool_calls"] == [call]

    async def test_streamed_tool_call_arrives_in_pieces(
        self, sim: RunningSimulator, http: aiohttp.ClientSession
    ) -> None:
        text = await chat(sim, http, **chat_body(QUESTION, tools=[WEATHER], stream=True))
        chunks = [json.loads(data) for _, data in sse_blocks(text)[:-1]]
        deltas = [c["choices"][0]["delta"] for c in chunks if c["choices"][0]["delta"]]
        calls = [d["tool_calls"][0] for d in deltas if "tool_calls" in d]
        assert calls[0]["id"].startswith("call_") and calls[0]["function"]["arguments"] == ""
        assert len(calls) >= 3
        arguments = "".join(c["function"]["arguments"] for c in calls)
        assert json.loads(arguments) == {"city": "Amsterdam", "days": 3}
        assert chunks[-1]["choices"][0]["finish_reason"] == "tool_calls"

    async def test_auto_without_a_match_answers_and_required_calls_first_tool(
        self, sim: RunningSimulator, http: aiohttp.ClientSession
    ) -> None:
        auto = await chat(sim, http, **chat_body("Hi!", tools=[WEATHER]))
        assert auto["choices"][0]["finish_reason"] == "stop"
        forced = await chat(sim, http, **chat_body("Hi!", tools=[WEATHER], tool_choice="required"))
        assert forced["choices"][0]["message"]["tool_calls"][0]["function"]["name"] == "get_weather"

    async def test_tool_results_are_quoted(
        self, sim: RunningSimulator, http: aiohttp.ClientSession
    ) -> None:
        call = {
            "id": "call_1",
            "type": "function",
            "function": {"name": "get_weather", "arguments": "{}"},
        }
        messages = [
            {"role": "user", "content": QUESTION},
            {"role": "assistant", "content": None, "tool_calls": [call]},
            {"role": "tool", "tool_call_id": "call_1", "content": "Sunny, 21 C"},
        ]
        body = await chat(sim, http, model="gpt-4o-mini", messages=messages, tools=[WEATHER])
        assert "Based on get_weather: Sunny, 21 C" in body["choices"][0]["message"]["content"]


class TestOpenAIShapes:
    async def test_json_schema_answer_is_an_instance(
        self, sim: RunningSimulator, http: aiohttp.ClientSession
    ) -> None:
        schema = {
            "type": "object",
            "properties": {
                "answer": {"type": "string"},
                "score": {"type": "integer", "minimum": 1},
                "tags": {"type": "array", "items": {"type": "string"}},
                "kind": {"enum": ["faq", "other"]},
            },
            "required": ["answer", "score"],
            "additionalProperties": False,
        }
        fmt = {
            "type": "json_schema",
            "json_schema": {"name": "a", "schema": schema, "strict": True},
        }
        body = await chat(sim, http, **chat_body(response_format=fmt))
        value = json.loads(body["choices"][0]["message"]["content"])
        assert set(value) == {"answer", "score", "tags", "kind"}
        assert value["score"] >= 1 and value["kind"] == "faq" and isinstance(value["answer"], str)
        plain = await chat(sim, http, **chat_body(response_format={"type": "json_object"}))
        assert "answer" in json.loads(plain["choices"][0]["message"]["content"])

    async def test_n_choices_logprobs_and_fingerprint(
        self, sim: RunningSimulator, http: aiohttp.ClientSession
    ) -> None:
        body = await chat(sim, http, **chat_body(n=2, logprobs=True, top_logprobs=2, seed=7))
        assert [c["index"] for c in body["choices"]] == [0, 1]
        texts = [c["message"]["content"] for c in body["choices"]]
        assert texts[0] != texts[1]
        entry = body["choices"][0]["logprobs"]["content"][0]
        assert set(entry) == {"token", "logprob", "bytes", "top_logprobs"}
        assert len(entry["top_logprobs"]) == 2
        assert body["system_fingerprint"] == "fp_sim_7"
        assert body["usage"]["completion_tokens"] == sum(
            len(c["logprobs"]["content"]) for c in body["choices"]
        )

    async def test_limits_stop_refusal_and_filter(
        self, sim: RunningSimulator, http: aiohttp.ClientSession
    ) -> None:
        cut = await chat(sim, http, **chat_body(max_completion_tokens=3))
        assert cut["choices"][0]["finish_reason"] == "length"
        assert cut["usage"]["completion_tokens"] == 3
        stopped = await chat(sim, http, **chat_body(stop=["password"]))
        assert "password" not in stopped["choices"][0]["message"]["content"]
        refused = await chat(sim, http, **chat_body("Please REFUSE_ME now"))
        message = refused["choices"][0]["message"]
        assert message["content"] is None and message["refusal"] == "I can't help with that."
        filtered = await chat(sim, http, **chat_body("FILTER_ME please"))
        assert filtered["choices"][0]["finish_reason"] == "content_filter"

    async def test_reasoning_models_report_reasoning_tokens(
        self, sim: RunningSimulator, http: aiohttp.ClientSession
    ) -> None:
        body = await chat(sim, http, model="o3-mini", messages=[{"role": "user", "content": "Hi"}])
        details = body["usage"]["completion_tokens_details"]
        assert 0 < details["reasoning_tokens"] < body["usage"]["completion_tokens"]

    async def test_lenient_body_with_parts_and_unknown_fields(
        self, sim: RunningSimulator, http: aiohttp.ClientSession
    ) -> None:
        content = [
            {"type": "text", "text": "How do I reset my password?"},
            {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA"}},
        ]
        body = await chat(
            sim,
            http,
            model="gpt-4o-mini",
            messages=[
                {"role": "developer", "content": "Be kind"},
                {"role": "user", "content": content},
            ],
            metadata={"a": "b"},
            reasoning_effort="low",
            store=False,
        )
        assert body["usage"]["prompt_tokens"] > 85


class TestRecordedRequests:
    async def test_raw_bodies_are_kept_and_reset(
        self, sim: RunningSimulator, http: aiohttp.ClientSession
    ) -> None:
        raw = b'{"model":"gpt-4o-mini",  "messages":[{"role":"user","content":"Hi"}]}'
        headers = {**OPENAI_KEY, "Content-Type": "application/json"}
        async with http.post(f"{sim.base_url}/v1/chat/completions", data=raw, headers=headers):
            pass
        assert sim.state.received()[-1].raw == raw
        async with http.get(f"{sim.base_url}/_sim/requests") as response:
            (seen,) = await response.json()
        assert seen["path"] == "/v1/chat/completions" and seen["body"] == raw.decode()
        assert seen["headers"]["Authorization"] == "Bearer sk-test"
        async with http.post(f"{sim.base_url}/_sim/reset"):
            pass
        async with http.get(f"{sim.base_url}/_sim/requests") as response:
            assert await response.json() == []

    async def test_model_by_id(self, sim: RunningSimulator, http: aiohttp.ClientSession) -> None:
        async with http.get(f"{sim.base_url}/v1/models/gpt-4o", headers=OPENAI_KEY) as response:
            assert (await response.json())["id"] == "gpt-4o"


ANTHROPIC_WEATHER = {
    "name": "get_weather",
    "description": "Current weather for a city",
    "input_schema": WEATHER["function"]["parameters"],  # type: ignore[index]
}


class TestAnthropic:
    async def test_tool_use_and_thinking(
        self, sim: RunningSimulator, http: aiohttp.ClientSession
    ) -> None:
        body = messages_body(
            QUESTION, tools=[ANTHROPIC_WEATHER], thinking={"type": "enabled", "budget_tokens": 1024}
        )
        status, _, text = await post(http, f"{sim.base_url}/v1/messages", body, ANTHROPIC_KEY)
        assert status == 200, text
        reply = json.loads(text)
        assert reply["stop_reason"] == "tool_use"
        thinking, tool = reply["content"]
        assert thinking["type"] == "thinking" and thinking["signature"]
        assert tool["type"] == "tool_use" and tool["id"].startswith("toolu_")
        assert tool["input"] == {"city": "Amsterdam", "days": 3}

    async def test_streamed_tool_use_and_result_quote(
        self, sim: RunningSimulator, http: aiohttp.ClientSession
    ) -> None:
        body = messages_body(QUESTION, tools=[ANTHROPIC_WEATHER], stream=True)
        _, _, text = await post(http, f"{sim.base_url}/v1/messages", body, ANTHROPIC_KEY)
        events = [json.loads(data) for _, data in sse_blocks(text)]
        partial = "".join(
            e["delta"]["partial_json"]
            for e in events
            if e["type"] == "content_block_delta" and e["delta"]["type"] == "input_json_delta"
        )
        assert json.loads(partial) == {"city": "Amsterdam", "days": 3}
        assert events[-2]["delta"]["stop_reason"] == "tool_use"
        follow = messages_body(QUESTION, tools=[ANTHROPIC_WEATHER])
        follow["messages"] += [
            {
                "role": "assistant",
                "content": [
                    {"type": "tool_use", "id": "toolu_1", "name": "get_weather", "input": {}}
                ],
            },
            {
                "role": "user",
                "content": [{"type": "tool_result", "tool_use_id": "toolu_1", "content": "Rainy"}],
            },
        ]
        _, _, text = await post(http, f"{sim.base_url}/v1/messages", follow, ANTHROPIC_KEY)
        assert "Based on get_weather: Rainy" in json.loads(text)["content"][0]["text"]

    async def test_stop_sequence_and_count_tokens(
        self, sim: RunningSimulator, http: aiohttp.ClientSession
    ) -> None:
        body = messages_body(stop_sequences=["password"])
        _, _, text = await post(http, f"{sim.base_url}/v1/messages", body, ANTHROPIC_KEY)
        reply = json.loads(text)
        assert reply["stop_reason"] == "stop_sequence" and reply["stop_sequence"] == "password"
        count = {"model": "claude-haiku-4-5", "messages": body["messages"]}
        url = f"{sim.base_url}/v1/messages/count_tokens"
        status, _, text = await post(http, url, count, ANTHROPIC_KEY)
        assert status == 200 and json.loads(text)["input_tokens"] == reply["usage"]["input_tokens"]
