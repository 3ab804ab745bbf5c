"""The OpenAI-compatible API, driven by the official ``openai`` SDK over real sockets.

The tests share one embedded gateway (simulated provider, fast pace) and ask questions no
other test asks, so caching in one test cannot leak into another. The real OpenAI wire behind
the gateway is tested in ``test_openai_compat_upstream.py``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import msgspec
import openai
import pytest
from openai import AsyncOpenAI

from server.config import load_settings
from tests.support.gateway import RunningGateway, run_gateway
from tests.support.openai_sdk import frugal, user, with_sync_client

pytestmark = pytest.mark.anyio


FAST_SIMULATED = {
    "FRUGAL_SIMULATED_CHEAP_TTFT_MS": "0",
    "FRUGAL_SIMULATED_STRONG_TTFT_MS": "0",
    "FRUGAL_SIMULATED_CHEAP_TOKENS_PER_S": "100000",
    "FRUGAL_SIMULATED_STRONG_TOKENS_PER_S": "100000",
}
MAX_BODY_BYTES = 4096


@pytest.fixture(scope="module")
def anyio_backend() -> str:
    # Module scope so the shared gateway below lives in one event loop for the whole module.
    return "asyncio"


@pytest.fixture(scope="module")
async def gateway() -> AsyncIterator[RunningGateway]:
    settings = load_settings(
        {
            **FAST_SIMULATED,
            "FRUGAL_SERVER_MAX_BODY_BYTES": str(MAX_BODY_BYTES),
            "FRUGAL_MODELS_FALLBACK": "gpt-4.1-mini",
        }
    )
    async with run_gateway(settings) as gw:
        yield gw


@pytest.fixture
async def client(gateway: RunningGateway) -> AsyncIterator[AsyncOpenAI]:
    async with AsyncOpenAI(
        base_url=f"{gateway.base_url}/v1", api_key="test-key", max_retries=0, timeout=30
    ) as c:
        yield c


class TestCreate:
    async def test_sync_client_gets_an_openai_completion_and_frugal_headers(
        self, gateway: RunningGateway
    ) -> None:
        raw = await with_sync_client(
            gateway.base_url,
            lambda c: c.chat.completions.with_raw_response.create(
                model="auto", messages=user("How do I reset my password?")
            ),
        )
        completion = raw.parse()
        assert raw.headers["x-frugal-cache"] == "miss"
        assert raw.headers["x-frugal-route"] == "cheap"
        cost = int(raw.headers["x-frugal-cost-usd-micros"])
        assert cost > 0
        assert completion.id == f"chatcmpl-{raw.headers['x-request-id']}"
        assert completion.object == "chat.completion"
        assert completion.created > 0
        assert completion.model == "gpt-4o-mini"
        assert completion.system_fingerprint
        [choice] = completion.choices
        assert choice.index == 0
        assert choice.finish_reason == "stop"
        assert choice.logprobs is None
        assert choice.message.role == "assistant"
        assert "password" in (choice.message.content or "").lower()
        usage = completion.usage
        assert usage is not None and usage.prompt_tokens > 0 and usage.completion_tokens > 0
        assert usage.total_tokens == usage.prompt_tokens + usage.completion_tokens
        assert usage.prompt_tokens_details is not None
        assert usage.prompt_tokens_details.cached_tokens == 0
        info = frugal(completion)
        assert info["cost_usd_micros"] == cost
        assert info["cache"] == "miss" and info["route"] == "cheap"

    async def test_repeated_request_is_an_exact_cache_hit_that_costs_nothing(
        self, client: AsyncOpenAI
    ) -> None:
        messages = user("Can I change the email address on my account?")
        first = await client.chat.completions.with_raw_response.create(
            model="auto", messages=messages
        )
        second = await client.chat.completions.with_raw_response.create(
            model="auto", messages=messages
        )
        assert first.headers["x-frugal-cache"] == "miss"
        assert second.headers["x-frugal-cache"] == "exact"
        assert second.headers["x-frugal-route"] == "cache"
        assert second.headers["x-frugal-cost-usd-micros"] == "0"
        original, cached = first.parse(), second.parse()
        assert cached.choices[0].message.content == original.choices[0].message.content
        assert cached.model == original.model
        assert frugal(cached)["saved_usd_micros"] == frugal(original)["cost_usd_micros"] > 0
        assert cached.usage is not None and cached.usage.total_tokens == 0

    async def test_no_cache_header_bypasses_the_cache(self, client: AsyncOpenAI) -> None:
        messages = user("Do you ship to Canada?")
        await client.chat.completions.create(model="auto", messages=messages)
        again = await client.chat.completions.with_raw_response.create(
            model="auto", messages=messages, extra_headers={"x-frugal-cache": "no-cache"}
        )
        assert again.headers["x-frugal-cache"] == "miss"
        assert int(again.headers["x-frugal-cost-usd-micros"]) > 0

    @pytest.mark.parametrize(
        ("model", "route", "answered_by"),
        [
            ("auto", "strong", "gpt-4o"),
            ("gpt-4o-mini", "cheap", "gpt-4o-mini"),
            ("gpt-4.1-nano", "explicit", "gpt-4.1-nano"),
        ],
    )
    async def test_auto_is_routed_and_a_named_model_is_used_as_is(
        self, client: AsyncOpenAI, model: str, route: str, answered_by: str
    ) -> None:
        # A technical question: the router sends it to the strong tier unless a model is named.
        question = f"Why does the webhook endpoint return HTTP 500 ({model})?"
        raw = await client.chat.completions.with_raw_response.create(
            model=model, messages=user(question)
        )
        assert raw.headers["x-frugal-route"] == route
        assert raw.parse().model == answered_by

    async def test_text_parts_system_and_developer_messages_are_accepted(
        self, client: AsyncOpenAI
    ) -> None:
        completion = await client.chat.completions.create(
            model="auto",
            messages=[
                {"role": "system", "content": "Be brief."},
                {"role": "developer", "content": [{"type": "text", "text": "Be polite."}]},
                {"role": "user", "content": "Hello!"},
                {"role": "assistant", "content": "Hi, how can I help?"},
                {
                    "role": "user",
                    "content": [
                        {"type": "text", "text": "What is your"},
                        {"type": "text", "text": "refund policy?"},
                    ],
                },
            ],
            temperature=0,
            top_p=1,
            seed=7,
            user="customer-1",
        )
        assert "return" in (completion.choices[0].message.content or "").lower()

    async def test_max_completion_tokens_caps_the_answer(self, client: AsyncOpenAI) -> None:
        completion = await client.chat.completions.create(
            model="auto", messages=user("How long does delivery take?"), max_completion_tokens=3
        )
        assert completion.usage is not None
        assert 0 < completion.usage.completion_tokens <= 3


class TestStreaming:
    async def test_stream_concatenates_to_the_whole_answer_and_ends_with_usage(
        self, client: AsyncOpenAI
    ) -> None:
        # no-store keeps the streamed answer out of the cache, so the whole answer that
        # follows comes from the model too, as it would on a fresh gateway.
        messages = user("How do I update my billing address?")
        raw = await client.chat.completions.with_raw_response.create(
            model="auto",
            messages=messages,
            stream=True,
            stream_options={"include_usage": True},
            extra_headers={"x-frugal-cache": "no-store"},
        )
        assert raw.headers["x-frugal-cache"] == "miss"
        assert raw.headers["x-frugal-route"] == "cheap"
        assert "x-frugal-cost-usd-micros" not in raw.headers
        chunks = [chunk async for chunk in raw.parse()]
        whole = await client.chat.completions.with_raw_response.create(
            model="auto", messages=messages
        )
        assert whole.headers["x-frugal-cache"] == "miss"
        completion = whole.parse()

        first, *middle, finish, last = chunks
        assert first.choices[0].delta.role == "assistant"
        assert first.choices[0].delta.content == ""
        assert {c.id for c in chunks} == {f"chatcmpl-{raw.headers['x-request-id']}"}
        assert {c.object for c in chunks} == {"chat.completion.chunk"}
        assert all(c.usage is None for c in chunks[:-1])
        text = "".join(c.choices[0].delta.content or "" for c in middle)
        assert text == completion.choices[0].message.content
        assert finish.choices[0].finish_reason == "stop"
        assert finish.model == completion.model == "gpt-4o-mini"
        assert last.choices == []
        assert last.usage is not None
        assert completion.usage is not None
        assert last.usage.completion_tokens == completion.usage.completion_tokens
        assert last.usage.total_tokens == last.usage.prompt_tokens + last.usage.completion_tokens
        assert frugal(last)["cost_usd_micros"] == frugal(completion)["cost_usd_micros"] > 0

    async def test_streamed_cache_hit_replays_the_stored_answer(self, client: AsyncOpenAI) -> None:
        messages = user("Where can I download my invoices?")
        stored = await client.chat.completions.create(model="auto", messages=messages)
        raw = await client.chat.completions.with_raw_response.create(
            model="auto", messages=messages, stream=True, stream_options={"include_usage": True}
        )
        assert raw.headers["x-frugal-cache"] == "exact"
        assert raw.headers["x-frugal-route"] == "cache"
        chunks = [chunk async for chunk in raw.parse()]
        text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
        assert text == stored.choices[0].message.content
        info = frugal(chunks[-1])
        assert info["cost_usd_micros"] == 0 and info["cache"] == "exact"
        assert info["saved_usd_micros"] == frugal(stored)["cost_usd_micros"]

    async def test_wire_format_without_include_usage(
        self, gateway: RunningGateway, http: aiohttp.ClientSession
    ) -> None:
        payload = {"model": "auto", "messages": user("Is there a mobile app?"), "stream": True}
        async with http.post(f"{gateway.base_url}/v1/chat/completions", json=payload) as resp:
            assert resp.status == 200
            assert resp.headers["content-type"].startswith("text/event-stream")
            text = await resp.text()
        events = [e for e in text.replace("\r\n", "\n").split("\n\n") if e.strip()]
        assert all(e.startswith("data: ") for e in events)
        assert events[-1] == "data: [DONE]"
        chunks = [msgspec.json.decode(e.removeprefix("data: ")) for e in events[:-1]]
        assert all("usage" not in c for c in chunks)
        assert chunks[-1]["choices"] == [
            {"delta": {}, "finish_reason": "stop", "index": 0, "logprobs": None}
        ]
        assert chunks[-1]["frugal"]["cost_usd_micros"] > 0

    async def test_bad_stream_request_is_a_json_error_not_a_stream(
        self, client: AsyncOpenAI
    ) -> None:
        # The pipeline rejects it before its first event: an ordinary 422 response.
        with pytest.raises(openai.UnprocessableEntityError) as caught:
            await client.chat.completions.create(
                model="auto",
                messages=[{"role": "assistant", "content": "no question here"}],
                stream=True,
            )
        assert caught.value.code == "last_not_user"


class TestErrors:
    @pytest.mark.parametrize(
        ("kwargs", "code", "param"),
        [
            ({"extra_body": {"colour": "red"}}, "unknown_field", "colour"),
            (
                {"messages": [{"role": "wizard", "content": "hi"}]},
                "invalid_request",
                "messages[0].role",
            ),
            ({"n": 2}, "invalid_request", "n"),
            ({"top_p": 0.5}, "invalid_request", "top_p"),
            (
                {"messages": [{"role": "user", "content": [{"type": "image_url", "x": 1}]}]},
                "invalid_request",
                "messages[0].content[0].type",
            ),
            ({"temperature": 3}, "bad_temperature", None),
            ({"extra_headers": {"x-frugal-cache": "sometimes"}}, "bad_cache_mode", None),
        ],
    )
    async def test_bad_input_raises_unprocessable_entity(
        self, client: AsyncOpenAI, kwargs: dict[str, Any], code: str, param: str | None
    ) -> None:
        request: dict[str, Any] = {"model": "auto", "messages": user("hello"), **kwargs}
        with pytest.raises(openai.UnprocessableEntityError) as caught:
            await client.chat.completions.create(**request)
        err = caught.value
        assert err.status_code == 422
        assert err.code == code
        assert err.type == "invalid_request_error"
        assert err.param == param
        assert err.message

    async def test_body_too_large_is_413(self, client: AsyncOpenAI) -> None:
        with pytest.raises(openai.APIStatusError) as caught:
            await client.chat.completions.create(
                model="auto", messages=user("x" * (MAX_BODY_BYTES + 100))
            )
        assert caught.value.status_code == 413
        assert caught.value.code == "body_too_large"

    async def test_malformed_json_is_a_400_in_the_gateway_error_format(
        self, gateway: RunningGateway, http: aiohttp.ClientSession
    ) -> None:
        async with http.post(
            f"{gateway.base_url}/v1/chat/completions",
            data=b"{not json",
            headers={"content-type": "application/json"},
        ) as resp:
            assert resp.status == 400
            body = await resp.json()
        error = body["error"]
        assert set(error) == {"code", "message", "type", "param"}
        assert error["code"] == "invalid_json" and error["type"] == "invalid_request_error"
        assert error["message"] and error["param"] is None


class TestModels:
    async def test_models_lists_auto_and_every_tier(self, client: AsyncOpenAI) -> None:
        page = await client.models.list()
        models = {m.id: m for m in page.data}
        assert list(models) == ["auto", "gpt-4o-mini", "gpt-4o", "gpt-4.1-mini"]
        assert all(m.object == "model" for m in models.values())
        assert models["auto"].owned_by == "frugal"
        assert models["gpt-4o"].owned_by == "simulated"
