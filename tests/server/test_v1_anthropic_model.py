"""``/v1/chat/completions`` to an Anthropic model: the caller speaks OpenAI, the gateway
translates to the Messages API (agent/anthropic_body.py) and back. The same conversation
sent to ``claude-haiku-4-5`` and ``gpt-4o-mini`` (both the upstream simulator) must give the
same tool calls and quote the same tool results."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import openai
import pytest
from openai import AsyncOpenAI

from tests.support.openai_sdk import user
from tests.support.v1 import (
    TOOLS,
    SimGateway,
    comparable,
    fold_tool_call_deltas,
    sim_gateway,
    streamed_text,
    tool_calls_of,
)

pytestmark = pytest.mark.anyio

CLAUDE = "claude-haiku-4-5"
GPT = "gpt-4o-mini"
NO_CACHE = {"x-frugal-cache": "no-cache"}


@pytest.fixture(scope="module")
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(scope="module")
async def gw() -> AsyncIterator[SimGateway]:
    async with sim_gateway(anthropic=True) as running:
        yield running


@pytest.fixture
async def client(gw: SimGateway) -> AsyncIterator[AsyncOpenAI]:
    async with gw.client() as c:
        yield c


async def two_turns(
    c: AsyncOpenAI, model: str, question: str, results: dict[str, str]
) -> tuple[Any, Any]:
    """Ask, answer every tool call with ``results``, and return (first, final) completions."""
    first = await c.chat.completions.create(
        model=model, messages=user(question), tools=TOOLS, temperature=0, extra_headers=NO_CACHE
    )
    calls = first.choices[0].message.tool_calls or []
    messages: list[Any] = [
        *user(question),
        first.choices[0].message.model_dump(exclude_none=True),
        *(
            {"role": "tool", "tool_call_id": call.id, "content": results[call.function.name]}
            for call in calls
        ),
    ]
    final = await c.chat.completions.create(
        model=model, messages=messages, tools=TOOLS, temperature=0, extra_headers=NO_CACHE
    )
    return first, final


class TestToolConversation:
    @pytest.mark.parametrize(
        "question",
        [
            "What is the weather in Reykjavik for 5 days?",
            "Tell me the weather and local time in Rome",
        ],
    )
    async def test_same_calls_and_quotes_on_both_wires(
        self, client: AsyncOpenAI, question: str
    ) -> None:
        results = {"get_weather": "Windy, 8 C", "get_time": "09:41"}
        claude_first, claude_final = await two_turns(client, CLAUDE, question, results)
        gpt_first, gpt_final = await two_turns(client, GPT, question, results)

        assert claude_first.choices[0].finish_reason == "tool_calls"
        assert gpt_first.choices[0].finish_reason == "tool_calls"
        assert tool_calls_of(claude_first) == tool_calls_of(gpt_first)
        assert tool_calls_of(claude_first)  # at least one call
        assert claude_first.model.startswith(CLAUDE)
        for call in claude_first.choices[0].message.tool_calls or []:
            assert call.id and call.type == "function"

        claude_text = claude_final.choices[0].message.content or ""
        gpt_text = gpt_final.choices[0].message.content or ""
        assert claude_final.choices[0].finish_reason == "stop"
        for name, _ in tool_calls_of(gpt_first):
            assert results[name] in gpt_text
            assert results[name] in claude_text

    async def test_streamed_tool_calls_equal_the_whole_ones(self, client: AsyncOpenAI) -> None:
        kwargs: dict[str, Any] = {
            "model": CLAUDE,
            "messages": user("Tell me the weather and local time in Vienna for 3 days"),
            "tools": TOOLS,
            "temperature": 0,
            "extra_headers": NO_CACHE,
        }
        whole = await client.chat.completions.create(**kwargs)
        stream = await client.chat.completions.create(**kwargs, stream=True)
        chunks = [chunk async for chunk in stream]
        folded = fold_tool_call_deltas(chunks)
        assert [(c["name"], json.loads(c["arguments"])) for c in folded] == tool_calls_of(whole)
        assert all(c["id"] for c in folded)
        reasons = [ch.finish_reason for chunk in chunks for ch in chunk.choices if ch.finish_reason]
        assert reasons == ["tool_calls"]


class TestText:
    async def test_stream_gives_the_same_text_as_whole(self, client: AsyncOpenAI) -> None:
        messages = user("How long does a refund take to reach my card?")
        whole = await client.chat.completions.create(
            model=CLAUDE, messages=messages, extra_headers=NO_CACHE
        )
        stream = await client.chat.completions.create(
            model=CLAUDE,
            messages=messages,
            stream=True,
            stream_options={"include_usage": True},
            extra_headers=NO_CACHE,
        )
        chunks = [chunk async for chunk in stream]
        assert streamed_text(chunks) == whole.choices[0].message.content
        assert whole.choices[0].message.content
        usage = chunks[-1].usage
        assert usage is not None and usage.prompt_tokens > 0 and usage.completion_tokens > 0
        assert whole.usage is not None
        assert (usage.prompt_tokens, usage.completion_tokens) == (
            whole.usage.prompt_tokens,
            whole.usage.completion_tokens,
        )

    async def test_usage_and_frugal_headers(self, client: AsyncOpenAI) -> None:
        raw = await client.chat.completions.with_raw_response.create(
            model=CLAUDE,
            messages=[
                {"role": "system", "content": "You are a support agent."},
                *user("Can I get an invoice for my last order?"),
            ],
            temperature=0,
        )
        completion = raw.parse()
        assert completion.object == "chat.completion"
        assert completion.usage is not None
        assert completion.usage.prompt_tokens > 0 and completion.usage.completion_tokens > 0
        assert completion.usage.total_tokens == (
            completion.usage.prompt_tokens + completion.usage.completion_tokens
        )
        assert raw.headers["x-frugal-model"].startswith(CLAUDE)
        assert int(raw.headers["x-frugal-cost-usd-micros"]) > 0
        assert completion.choices[0].finish_reason == "stop"

    async def test_cache_hit_replays_the_anthropic_answer(self, client: AsyncOpenAI) -> None:
        kwargs: dict[str, Any] = {
            "model": CLAUDE,
            "messages": user("Can I get a paper copy of my contract?"),
            "temperature": 0,
        }
        first = await client.chat.completions.with_raw_response.create(**kwargs)
        again = await client.chat.completions.with_raw_response.create(**kwargs)
        assert [first.headers["x-frugal-cache"], again.headers["x-frugal-cache"]] == [
            "miss",
            "exact",
        ]
        assert comparable(again.parse()) == comparable(first.parse())

    async def test_stop_and_max_tokens_translate(self, client: AsyncOpenAI) -> None:
        cut = await client.chat.completions.create(
            model=CLAUDE,
            messages=user("Describe your enterprise plan in detail."),
            max_completion_tokens=4,
            extra_headers=NO_CACHE,
        )
        assert cut.choices[0].finish_reason == "length"
        assert cut.usage is not None and cut.usage.completion_tokens == 4
        stopped = await client.chat.completions.create(
            model=CLAUDE,
            messages=user("How do I reset my password?"),
            stop=["password"],
            extra_headers=NO_CACHE,
        )
        assert "password" not in (stopped.choices[0].message.content or "")
        assert stopped.choices[0].finish_reason == "stop"


UNTRANSLATABLE = [
    ({"n": 2}, "n"),
    ({"logprobs": True}, "logprobs"),
    ({"logprobs": True, "top_logprobs": 2}, "logprobs"),
    ({"response_format": {"type": "json_object"}}, "response_format"),
    ({"presence_penalty": 0.5}, "presence_penalty"),
]


def messages_received(gw: SimGateway) -> int:
    return len([r for r in gw.sim.state.received() if r.path == "/v1/messages"])


class TestUntranslatable:
    @pytest.mark.parametrize(("extra", "param"), UNTRANSLATABLE)
    async def test_field_anthropic_cannot_express_is_a_400(
        self, gw: SimGateway, client: AsyncOpenAI, extra: dict[str, Any], param: str
    ) -> None:
        before = messages_received(gw)
        with pytest.raises(openai.BadRequestError) as caught:
            await client.chat.completions.create(
                model=CLAUDE,
                messages=user("Where can I download my invoices?"),
                extra_headers=NO_CACHE,
                **extra,
            )
        assert caught.value.status_code == 400
        assert caught.value.param == param
        assert caught.value.code == "invalid_request"
        assert messages_received(gw) == before, "nothing may reach the provider"

    @pytest.mark.parametrize(("extra", "param"), UNTRANSLATABLE)
    async def test_field_anthropic_cannot_express_is_a_400_on_streams_too(
        self, gw: SimGateway, client: AsyncOpenAI, extra: dict[str, Any], param: str
    ) -> None:
        before = messages_received(gw)
        with pytest.raises(openai.BadRequestError) as caught:
            stream = await client.chat.completions.create(
                model=CLAUDE,
                messages=user("Where can I download my invoices?"),
                stream=True,
                extra_headers=NO_CACHE,
                **extra,
            )
            async with stream:
                async for _ in stream:
                    pass
        assert caught.value.status_code == 400
        assert caught.value.param == param
        assert messages_received(gw) == before, "nothing may reach the provider"

    async def test_neutral_values_are_accepted(self, client: AsyncOpenAI) -> None:
        completion = await client.chat.completions.create(
            model=CLAUDE,
            messages=user("Where can I download my receipts?"),
            n=1,
            logprobs=False,
            presence_penalty=0,
            extra_headers=NO_CACHE,
        )
        assert completion.choices[0].message.content
