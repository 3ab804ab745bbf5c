"""A caller's Responses body at the client seam: `OpenAIClient` with ``responses=True``
posts it to the simulator's ``/v1/responses`` and returns the bytes plus their chat
translation; without it (a fallback onto such a provider) the body is translated to chat
completions. Plus the pure Responses → chat translation."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import aclosing

import aiohttp
import msgspec
import pytest

from agent.errors import UpstreamError
from agent.http import create_http_session
from agent.openai_client import OpenAIClient
from agent.responses_translate.native import (
    NativeChunks,
    expanded_body,
    response_to_completion,
)
from agent.types import LLMRequest, Message
from tests.support.simulator import RunningSimulator

pytestmark = pytest.mark.anyio

BODY = {"model": "gpt-4o-mini", "input": "How do I reset my password?", "x_unknown": 1}
RAW = msgspec.json.encode(BODY)


def request(**changes: object) -> LLMRequest:
    base = LLMRequest(
        model="gpt-4o-mini",
        messages=(Message("user", "How do I reset my password?"),),
        body=BODY,
        raw=RAW,
        protocol="responses",
    )
    return msgspec.structs.replace(base, **changes)


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with create_http_session(pool_size=4, connect_timeout_s=2.0) as http:
        yield http


def client(
    sim: RunningSimulator,
    session: aiohttp.ClientSession,
    *,
    responses: bool = False,
    extra_headers: dict[str, str] | None = None,
) -> OpenAIClient:
    return OpenAIClient(
        session,
        base_url=f"{sim.base_url}/v1",
        api_key="k",
        responses=responses,
        extra_headers=extra_headers,
    )


async def test_native_whole(sim: RunningSimulator, session: aiohttp.ClientSession) -> None:
    answer = await client(sim, session, responses=True).generate(request())
    assert sim.state.received()[-1].path == "/v1/responses"
    assert sim.state.received()[-1].raw == RAW
    assert answer.native is not None and json.loads(answer.native)["object"] == "response"
    assert answer.completion is not None
    assert answer.completion["choices"][0]["message"]["content"] == answer.text
    assert answer.usage.prompt > 0 and answer.usage.completion > 0


async def test_native_stream(sim: RunningSimulator, session: aiohttp.ClientSession) -> None:
    streamed = request(body={**BODY, "stream": True}, raw=None)
    async with aclosing(client(sim, session, responses=True).stream(streamed)) as chunks:
        got = [chunk async for chunk in chunks]
    assert all(chunk.native is not None for chunk in got)
    assert got[-1].native is not None and got[-1].native[0] == "response.completed"
    assert got[-1].usage is not None and got[-1].usage.completion > 0
    assert "".join(chunk.text for chunk in got)


async def test_native_stream_cut(sim: RunningSimulator, session: aiohttp.ClientSession) -> None:
    streamed = request(body={**BODY, "stream": True}, raw=None)
    native = client(sim, session, responses=True, extra_headers={"x-sim-fault": "no_done"})
    with pytest.raises(UpstreamError):
        async with aclosing(native.stream(streamed)) as chunks:
            async for _ in chunks:
                pass


async def test_translated_without_the_flag(
    sim: RunningSimulator, session: aiohttp.ClientSession
) -> None:
    answer = await client(sim, session).generate(request())
    seen = sim.state.received()[-1]
    assert seen.path == "/v1/chat/completions"
    sent = json.loads(seen.raw)
    assert sent["messages"] == [{"role": "user", "content": "How do I reset my password?"}]
    assert sent["x_unknown"] == 1 and answer.native is None and answer.text


def test_response_to_completion_with_a_call() -> None:
    response = {
        "id": "resp_1",
        "model": "m",
        "status": "completed",
        "output": [
            {"type": "function_call", "call_id": "call_1", "name": "f", "arguments": "{}"},
        ],
        "usage": {
            "input_tokens": 10,
            "input_tokens_details": {"cached_tokens": 4},
            "output_tokens": 3,
        },
    }
    completion = response_to_completion(response)
    [choice] = completion["choices"]
    assert choice["finish_reason"] == "tool_calls"
    assert choice["message"]["tool_calls"][0]["id"] == "call_1"
    assert completion["usage"]["prompt_tokens_details"]["cached_tokens"] == 4
    assert completion["usage"]["total_tokens"] == 13


def test_incomplete_is_a_length_finish() -> None:
    response = {
        "status": "incomplete",
        "incomplete_details": {"reason": "max_output_tokens"},
        "output": [{"type": "message", "content": [{"type": "output_text", "text": "Hi"}]}],
    }
    assert response_to_completion(response)["choices"][0]["finish_reason"] == "length"


def test_stream_chunks_fold_tool_calls() -> None:
    chunks = NativeChunks("m")
    item = {"type": "function_call", "call_id": "c", "name": "f", "arguments": ""}
    added = chunks.chunk({"type": "response.output_item.added", "output_index": 1, "item": item})
    delta = chunks.chunk(
        {"type": "response.function_call_arguments.delta", "output_index": 1, "delta": "{}"}
    )
    assert added is not None and delta is not None
    assert added["choices"][0]["delta"]["tool_calls"][0]["index"] == 0
    assert delta["choices"][0]["delta"]["tool_calls"][0]["function"]["arguments"] == "{}"
    assert chunks.chunk({"type": "response.output_text.done"}) is None


def test_expanded_body_drops_previous_id_and_item_ids() -> None:
    body = {"model": "m", "previous_response_id": "resp_1", "input": "x", "store": True}
    context = [{"id": "msg_1", "type": "message", "role": "user", "content": "a"}]
    items = [{"id": "msg_2", "type": "message", "role": "user", "content": "x"}]
    out = expanded_body(body, context, items)
    assert "previous_response_id" not in out and out["store"] is True
    assert out["input"] == [
        {"type": "message", "role": "user", "content": "a"},
        {"type": "message", "role": "user", "content": "x"},
    ]
