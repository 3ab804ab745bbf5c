"""The OpenAI-compatible API, driven by the official ``openai`` SDK over real sockets.

The tests share one embedded gateway (simulated provider, fast pace) and ask questions no
other test asks, so caching in one test cannot leak into another. Only deterministic
requests (``temperature: 0`` or a ``seed``) are cached, so tests that expect hits send one.
The real OpenAI wire behind the gateway is tested in ``test_openai_compat_upstream.py``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import openai
import pytest
from openai import AsyncOpenAI

from server.config import load_settings
from tests.support.gateway import RunningGateway, run_gateway
from tests.support.openai_sdk import frugal, sse_chunks, user, with_sync_client

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


FRUGAL_KEYS = {
    "cost_usd_micros",
    "cost_known",
    "saved_usd_micros",
    "cache",
    "route",
    "model",
    "used_fallback",
    "fallback_reason",
    "request_id",
}


async def post_stream(
    http: aiohttp.ClientSession, base_url: str, payload: dict[str, Any], **headers: str
) -> tuple[aiohttp.ClientResponse, str]:
    """POST a streaming request; (the response, its whole text)."""
    async with http.post(
        f"{base_url}/v1/chat/completions", json={**payload, "stream": True}, headers=headers
    ) as resp:
        text = await resp.text()
    assert resp.status == 200, text
    assert resp.headers["content-type"].startswith("text/event-stream")
    return resp, text


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
        assert raw.headers["x-frugal-model"] == "gpt-4o-mini"
        request_id = raw.headers["x-frugal-request-id"]
        assert raw.headers["x-request-id"] == request_id
        assert "x-frugal-fallback" not in raw.headers
        cost = int(raw.headers["x-frugal-cost-usd-micros"])
        assert cost > 0
        # The embedded simulated provider: the core made the completion, so its id is ours.
        assert completion.id == f"chatcmpl-{request_id}"
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
        info = frugal(completion)
        assert set(info) == FRUGAL_KEYS
        assert info["cost_usd_micros"] == cost and info["cost_known"] is True
        assert info["cache"] == "miss" and info["route"] == "cheap"
        assert info["model"] == "gpt-4o-mini" and info["used_fallback"] is False
        assert info["request_id"] == request_id

    async def test_repeated_deterministic_request_is_an_exact_cache_hit_that_costs_nothing(
        self, client: AsyncOpenAI
    ) -> None:
        messages = user("Can I change the email address on my account?")
        first = await client.chat.completions.with_raw_response.create(
            model="auto", messages=messages, temperature=0
        )
        second = await client.chat.completions.with_raw_response.create(
            model="auto", messages=messages, temperature=0
        )
        assert first.headers["x-frugal-cache"] == "miss"
        assert second.headers["x-frugal-cache"] == "exact"
        assert second.headers["x-frugal-route"] == "cache"
        assert second.headers["x-frugal-cost-usd-micros"] == "0"
        original, cached = first.parse(), second.parse()
        assert cached.choices[0].message.content == original.choices[0].message.content
        assert cached.model == original.model
        # A hit is a fresh completion: its own id (the new request's), the stored answer.
        assert cached.id == f"chatcmpl-{second.headers['x-request-id']}" != original.id
        info = frugal(cached)
        assert info["cost_usd_micros"] == 0 and info["cache"] == "exact"
        assert info["saved_usd_micros"] == frugal(original)["cost_usd_micros"] > 0

    async def test_a_seed_makes_a_request_cacheable(self, client: AsyncOpenAI) -> None:
        messages = user("Can I get my receipts by email?")
        first = await client.chat.completions.with_raw_response.create(
            model="auto", messages=messages, seed=42
        )
        second = await client.chat.completions.with_raw_response.create(
            model="auto", messages=messages, seed=42
        )
        assert first.headers["x-frugal-cache"] == "miss"
        assert second.headers["x-frugal-cache"] == "exact"

    async def test_request_at_the_default_temperature_is_not_cached(
        self, client: AsyncOpenAI
    ) -> None:
        # No temperature and no seed: the provider samples at 1, so answers may differ.
        for temperature in (None, None, 0.7, 0.7):
            extra: dict[str, Any] = {} if temperature is None else {"temperature": temperature}
            raw = await client.chat.completions.with_raw_response.create(
                model="auto", messages=user("Do you sell gift cards?"), **extra
            )
            assert raw.headers["x-frugal-cache"] == "miss", temperature
            assert int(raw.headers["x-frugal-cost-usd-micros"]) > 0

    async def test_the_cache_key_covers_every_field_that_changes_the_output(
        self, client: AsyncOpenAI
    ) -> None:
        base: dict[str, Any] = {
            "model": "auto",
            "messages": user("How do I export my data?"),
            "temperature": 0,
        }
        stored = await client.chat.completions.with_raw_response.create(**base)
        assert stored.headers["x-frugal-cache"] == "miss"
        variants: list[dict[str, Any]] = [
            {"max_tokens": 40},
            {"top_p": 0.5},
            {"presence_penalty": 0.5},
            {"response_format": {"type": "json_object"}},
            {"extra_body": {"colour": "red"}},
            {"model": "gpt-4o"},
        ]
        for variant in variants:
            raw = await client.chat.completions.with_raw_response.create(**{**base, **variant})
            assert raw.headers["x-frugal-cache"] == "miss", variant
        # Transport and bookkeeping fields do not change the answer: still a hit.
        again = await client.chat.completions.with_raw_response.create(
            **base, user="someone-else", metadata={"ticket": "7"}
        )
        assert again.headers["x-frugal-cache"] == "exact"

    async def test_no_cache_header_bypasses_the_cache(self, client: AsyncOpenAI) -> None:
        messages = user("Do you ship to Canada?")
        await client.chat.completions.create(model="auto", messages=messages, temperature=0)
        again = await client.chat.completions.with_raw_response.create(
            model="auto",
            messages=messages,
            temperature=0,
            extra_headers={"x-frugal-cache": "no-cache"},
        )
        assert again.headers["x-frugal-cache"] == "miss"
        assert int(again.headers["x-frugal-cost-usd-micros"]) > 0
        hit = await client.chat.completions.with_raw_response.create(
            model="auto", messages=messages, temperature=0
        )
        assert hit.headers["x-frugal-cache"] == "exact"

    @pytest.mark.parametrize(
        ("model", "route", "answered_by"),
        [
            ("auto", "strong", "gpt-4o"),
            ("gpt-4o-mini", "cheap", "gpt-4o-mini"),
            ("gpt-4.1-mini", "explicit", "gpt-4.1-mini"),
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
        assert raw.headers["x-frugal-model"] == answered_by
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

    @pytest.mark.parametrize(
        "kwargs",
        [
            pytest.param({"extra_body": {"colour": "red"}}, id="unknown-field"),
            pytest.param({"n": 2}, id="n"),
            pytest.param({"top_p": 0.5}, id="top_p"),
            pytest.param({"logprobs": True, "top_logprobs": 2}, id="logprobs"),
            pytest.param({"presence_penalty": 0.5, "frequency_penalty": 0.5}, id="penalties"),
            pytest.param({"response_format": {"type": "json_object"}}, id="response_format"),
            pytest.param(
                {
                    "tools": [
                        {
                            "type": "function",
                            "function": {"name": "lookup", "parameters": {"type": "object"}},
                        }
                    ]
                },
                id="tools",
            ),
            pytest.param(
                {
                    "messages": [
                        {
                            "role": "user",
                            "content": [
                                {"type": "image_url", "image_url": {"url": "https://x/y.png"}},
                                {"type": "text", "text": "What is in this picture?"},
                            ],
                        }
                    ]
                },
                id="image",
            ),
            pytest.param(
                {"messages": [{"role": "assistant", "content": "no question here"}]},
                id="assistant-last",
            ),
        ],
    )
    async def test_fields_frugal_does_not_act_on_are_accepted(
        self, client: AsyncOpenAI, kwargs: dict[str, Any]
    ) -> None:
        # Transparent: what Frugal does not act on goes to the provider, never a refusal.
        request: dict[str, Any] = {"model": "auto", "messages": user("Hello there"), **kwargs}
        raw = await client.chat.completions.with_raw_response.create(**request)
        assert raw.status_code == 200
        assert raw.parse().choices

    async def test_max_completion_tokens_caps_the_answer(self, client: AsyncOpenAI) -> None:
        completion = await client.chat.completions.create(
            model="auto", messages=user("How long does delivery take?"), max_completion_tokens=3
        )
        assert completion.usage is not None
        assert 0 < completion.usage.completion_tokens <= 3
        assert completion.choices[0].finish_reason == "length"


class TestStreaming:
    async def test_stream_concatenates_to_the_whole_answer_and_ends_with_usage(
        self, gateway: RunningGateway, http: aiohttp.ClientSession, client: AsyncOpenAI
    ) -> None:
        messages = user("How do I update my billing address?")
        resp, text = await post_stream(
            http,
            gateway.base_url,
            {"model": "auto", "messages": messages, "stream_options": {"include_usage": True}},
        )
        assert resp.headers["x-frugal-cache"] == "miss"
        assert resp.headers["x-frugal-route"] == "cheap"
        assert resp.headers["x-frugal-model"] == "gpt-4o-mini"
        assert "x-frugal-cost-usd-micros" not in resp.headers  # not known before the end
        whole = await client.chat.completions.with_raw_response.create(
            model="auto", messages=messages
        )
        assert whole.headers["x-frugal-cache"] == "miss"
        completion = whole.parse()

        chunks, infos, kinds = sse_chunks(text)
        assert kinds[-2:] == ["frugal", "done"] and kinds.count("frugal") == 1
        # include_usage: the last chunk is the usage chunk (no choices).
        assert chunks[-1]["choices"] == [], chunks[-1]
        *answer, last = chunks
        assert {c["id"] for c in chunks} == {f"chatcmpl-{resp.headers['x-request-id']}"}
        assert {c["object"] for c in chunks} == {"chat.completion.chunk"}
        assert all("frugal" not in c for c in chunks)  # the chunks are the provider's own
        assert all(c.get("usage") is None for c in answer)
        streamed = "".join(c["choices"][0]["delta"].get("content") or "" for c in answer)
        assert streamed == completion.choices[0].message.content
        assert answer[-1]["choices"][0]["finish_reason"] == "stop"
        assert answer[-1]["model"] == completion.model == "gpt-4o-mini"
        # The usage chunk the caller asked for: no choices, the whole answer's usage.
        assert last["choices"] == []
        usage = last["usage"]
        assert completion.usage is not None
        assert usage["completion_tokens"] == completion.usage.completion_tokens
        assert usage["total_tokens"] == usage["prompt_tokens"] + usage["completion_tokens"]
        [info] = infos
        assert set(info) == FRUGAL_KEYS
        assert info["cost_usd_micros"] == frugal(completion)["cost_usd_micros"] > 0
        assert info["request_id"] == resp.headers["x-frugal-request-id"]
        assert info["cache"] == "miss" and info["model"] == "gpt-4o-mini"

    async def test_streamed_cache_hit_replays_the_stored_answer(
        self, gateway: RunningGateway, http: aiohttp.ClientSession, client: AsyncOpenAI
    ) -> None:
        messages = user("Where can I download my invoices?")
        stored = await client.chat.completions.create(
            model="auto", messages=messages, temperature=0
        )
        resp, text = await post_stream(
            http,
            gateway.base_url,
            {
                "model": "auto",
                "messages": messages,
                "temperature": 0,
                "stream_options": {"include_usage": True},
            },
        )
        assert resp.headers["x-frugal-cache"] == "exact"
        assert resp.headers["x-frugal-route"] == "cache"
        chunks, infos, kinds = sse_chunks(text)
        assert kinds[-2:] == ["frugal", "done"]
        # Replayed as a provider would stream it: role, content pieces, finish, usage.
        role, *pieces, finish, usage = chunks
        assert role["choices"][0]["delta"] == {"role": "assistant", "content": ""}
        text_of = "".join(p["choices"][0]["delta"]["content"] for p in pieces)
        assert text_of == stored.choices[0].message.content
        assert finish["choices"][0]["finish_reason"] == "stop"
        assert usage["choices"] == [] and usage["usage"] is not None
        assert {c["id"] for c in chunks} == {f"chatcmpl-{resp.headers['x-request-id']}"}
        [info] = infos
        assert info["cost_usd_micros"] == 0 and info["cache"] == "exact"
        assert info["saved_usd_micros"] == frugal(stored)["cost_usd_micros"] > 0

    async def test_the_sdk_reads_a_stream_and_skips_the_frugal_comment(
        self, client: AsyncOpenAI
    ) -> None:
        messages = user("Can I change my delivery slot?")
        stream = await client.chat.completions.create(
            model="auto", messages=messages, temperature=0, stream=True
        )
        streamed = "".join([c.choices[0].delta.content or "" async for c in stream if c.choices])
        replayed = await client.chat.completions.create(
            model="auto", messages=messages, temperature=0, stream=True
        )
        again = "".join([c.choices[0].delta.content or "" async for c in replayed if c.choices])
        assert streamed and again == streamed

    async def test_wire_format_without_include_usage(
        self, gateway: RunningGateway, http: aiohttp.ClientSession
    ) -> None:
        payload = {"model": "auto", "messages": user("Is there a mobile app?")}
        _, text = await post_stream(http, gateway.base_url, payload)
        events = [e for e in text.replace("\r\n", "\n").split("\n\n") if e.strip()]
        assert events[-1] == "data: [DONE]"
        assert events[-2].startswith(": frugal {")
        assert all(e.startswith("data: ") for e in events[:-2])
        chunks, [info], _ = sse_chunks(text)
        assert all("usage" not in c for c in chunks)
        assert chunks[-1]["choices"][0]["finish_reason"] == "stop"
        assert info["cost_usd_micros"] > 0

    async def test_invalid_stream_request_is_a_json_error_not_a_stream(
        self, gateway: RunningGateway, http: aiohttp.ClientSession, client: AsyncOpenAI
    ) -> None:
        # Refused before the first event: an ordinary 400 response.
        payload = {"model": "auto", "messages": user("hi"), "stream": True, "temperature": 3}
        async with http.post(f"{gateway.base_url}/v1/chat/completions", json=payload) as resp:
            assert resp.status == 400
            assert resp.headers["content-type"].startswith("application/json")
            body = await resp.json()
        assert body["error"]["param"] == "temperature"
        with pytest.raises(openai.BadRequestError) as caught:
            await client.chat.completions.create(
                model="auto",
                messages=[{"role": "wizard", "content": "hi"}],
                stream=True,
            )
        assert caught.value.param == "messages.role"


class TestErrors:
    @pytest.mark.parametrize(
        ("kwargs", "code", "param"),
        [
            (
                {"messages": [{"role": "wizard", "content": "hi"}]},
                "invalid_request",
                "messages.role",
            ),
            ({"messages": []}, "invalid_request", "messages"),
            ({"messages": "hello"}, "invalid_request", "messages"),
            ({"n": 0}, "invalid_request", "n"),
            ({"n": 1000}, "invalid_request", "n"),
            ({"temperature": 3}, "invalid_request", "temperature"),
            ({"max_tokens": 0}, "invalid_request", "max_tokens"),
            ({"model": "gpt 4o"}, "invalid_model", "model"),
            ({"model": "gpt-4o\r\nx-evil: 1"}, "invalid_model", "model"),
            ({"model": "m" * 257}, "invalid_model", "model"),
            ({"extra_headers": {"x-frugal-cache": "sometimes"}}, "bad_cache_mode", None),
        ],
    )
    async def test_bad_input_raises_bad_request_naming_the_param(
        self, client: AsyncOpenAI, kwargs: dict[str, Any], code: str, param: str | None
    ) -> None:
        request: dict[str, Any] = {"model": "auto", "messages": user("hello"), **kwargs}
        with pytest.raises(openai.BadRequestError) as caught:
            await client.chat.completions.create(**request)
        err = caught.value
        assert err.status_code == 400
        assert err.code == code
        assert err.type == "invalid_request_error"
        assert err.param == param
        assert err.message

    async def test_missing_model_is_a_bad_request_naming_model(
        self, gateway: RunningGateway, http: aiohttp.ClientSession
    ) -> None:
        async with http.post(
            f"{gateway.base_url}/v1/chat/completions", json={"messages": user("hello")}
        ) as resp:
            assert resp.status == 400
            body = await resp.json()
        assert body["error"]["type"] == "invalid_request_error"
        assert body["error"]["param"] == "model"

    async def test_unknown_model_is_not_found(self, client: AsyncOpenAI) -> None:
        with pytest.raises(openai.NotFoundError) as caught:
            await client.chat.completions.create(model="no-such-model-xyz", messages=user("hello"))
        assert caught.value.status_code == 404
        assert caught.value.code == "model_not_found"
        assert caught.value.param == "model"

    async def test_embedding_model_is_not_a_chat_model(self, client: AsyncOpenAI) -> None:
        with pytest.raises(openai.NotFoundError) as caught:
            await client.chat.completions.create(
                model="text-embedding-3-small", messages=user("hello")
            )
        assert caught.value.code == "model_not_found"

    async def test_body_too_large_is_413(self, client: AsyncOpenAI) -> None:
        with pytest.raises(openai.APIStatusError) as caught:
            await client.chat.completions.create(
                model="auto", messages=user("x" * (MAX_BODY_BYTES + 100))
            )
        assert caught.value.status_code == 413
        assert caught.value.code == "body_too_large"

    async def test_malformed_json_is_a_400_in_openai_error_shape(
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
        assert error["type"] == "invalid_request_error"
        assert error["message"] and error["param"] is None

    async def test_a_refused_request_leaves_the_connection_usable_and_logs_no_crash(
        self,
        gateway: RunningGateway,
        http: aiohttp.ClientSession,
        caplog: pytest.LogCaptureFixture,
    ) -> None:
        # One keep-alive connection: a 400 must not make the server drop it, nor be logged
        # as an unhandled exception.
        url = f"{gateway.base_url}/v1/chat/completions"
        connector = aiohttp.TCPConnector(limit=1)
        async with aiohttp.ClientSession(connector=connector) as one:
            for _ in range(2):
                async with one.post(url, json={"model": "auto", "messages": []}) as resp:
                    assert resp.status == 400
                    await resp.read()
            async with one.post(url, json={"model": "auto", "messages": user("Hi!")}) as resp:
                assert resp.status == 200
        crashes = [r for r in caplog.records if "Exception in ASGI application" in r.getMessage()]
        assert crashes == []


class TestModels:
    async def test_models_lists_auto_and_every_served_model(self, client: AsyncOpenAI) -> None:
        page = await client.models.list()
        models = {m.id: m for m in page.data}
        assert next(iter(models)) == "auto"
        assert {"gpt-4o-mini", "gpt-4o", "gpt-4.1-mini"} <= set(models)
        assert all(m.object == "model" for m in models.values())
        assert models["auto"].owned_by == "frugal"
        assert models["gpt-4o"].owned_by == "simulated"

    async def test_one_model_or_not_found(self, client: AsyncOpenAI) -> None:
        model = await client.models.retrieve("gpt-4o")
        assert model.id == "gpt-4o" and model.owned_by == "simulated"
        assert (await client.models.retrieve("auto")).owned_by == "frugal"
        with pytest.raises(openai.NotFoundError) as caught:
            await client.models.retrieve("no-such-model-xyz")
        assert caught.value.code == "model_not_found"
