"""Streams, OpenAI-shaped errors and the model list of the /v1 face."""

from __future__ import annotations

from typing import Any

import aiohttp
import openai
import pytest
from openai import AsyncOpenAI

from tests.server.openai_compat.support import (
    FRUGAL_KEYS,
    MAX_BODY_BYTES,
    post_stream,
)
from tests.support.gateway import RunningGateway
from tests.support.openai_sdk import frugal, sse_chunks, user

pytestmark = pytest.mark.anyio


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
