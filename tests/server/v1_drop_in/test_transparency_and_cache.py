"""What the provider receives (the caller's bytes), what the cache keys on, and every
client style."""

from __future__ import annotations

import json
from typing import Any

import aiohttp
import openai
import pytest
from openai import AsyncOpenAI

from tests.server.v1_drop_in.support import (
    CACHE,
    create_raw,
)
from tests.support.openai_sdk import frugal, user, with_sync_client
from tests.support.v1 import (
    TIME_TOOL,
    TOOLS,
    WEATHER_TOOL,
    SimGateway,
    comparable,
    sse_comments,
    streamed_text,
)

pytestmark = pytest.mark.anyio


class TestTransparency:
    RAW = (
        b'{ "model" : "gpt-4o-mini",\n  "messages": [{"role": "user", "content": '
        b'"Can I pay with \\u00e9cus?"}],  "temperature": 0.0, '
        b'"frugal_test_unknown": {"x": 1}, "metadata": {"team": "qa"}, '
        b'"service_tier": "default", "seed": 5 }'
    )

    async def _post(self, http: aiohttp.ClientSession, gw: SimGateway, raw: bytes) -> Any:
        async with http.post(
            f"{gw.base_url}/v1/chat/completions",
            data=raw,
            headers={"Content-Type": "application/json", "Authorization": "Bearer k"},
        ) as response:
            text = await response.text()
            assert response.status == 200, text
            return response.headers, text

    async def test_concrete_model_body_arrives_byte_for_byte(
        self, gw: SimGateway, http: aiohttp.ClientSession
    ) -> None:
        headers, text = await self._post(http, gw, self.RAW)
        assert headers[CACHE] == "miss"
        assert gw.last_received() == self.RAW
        body = json.loads(text)
        assert body["frugal"]["cost_usd_micros"] == int(headers["x-frugal-cost-usd-micros"])

    async def test_stream_asking_for_usage_arrives_byte_for_byte(
        self, gw: SimGateway, http: aiohttp.ClientSession
    ) -> None:
        raw = (
            b'{"messages":[{"role":"user","content":"Can I pay by wire transfer?"}],'
            b'"model":"gpt-4o-mini","stream":true,"stream_options":{"include_usage":true},'
            b'"frugal_test_unknown":[1,2]}'
        )
        await self._post(http, gw, raw)
        assert gw.last_received() == raw

    async def test_stream_without_usage_only_gains_include_usage(
        self, gw: SimGateway, http: aiohttp.ClientSession
    ) -> None:
        body = {
            "model": "gpt-4o-mini",
            "messages": [{"role": "user", "content": "Can I pay by bank cheque?"}],
            "stream": True,
            "stream_options": {"include_obfuscation": False},
            "frugal_test_unknown": {"x": 1},
        }
        await self._post(http, gw, json.dumps(body).encode())
        sent = json.loads(gw.last_received())
        expected = {**body, "stream_options": {"include_obfuscation": False, "include_usage": True}}
        assert sent == expected

    async def test_auto_differs_only_in_model(
        self, gw: SimGateway, http: aiohttp.ClientSession
    ) -> None:
        body = {
            "model": "auto",
            "messages": [
                {"role": "developer", "content": "Be brief."},
                {"role": "user", "content": "Can I pay with a gift card?"},
            ],
            "frugal_test_unknown": {"x": 1},
            "metadata": {"team": "qa"},
            "service_tier": "default",
            "user": "u-1",
        }
        headers, _ = await self._post(http, gw, json.dumps(body).encode())
        sent = json.loads(gw.last_received())
        assert sent.pop("model") == headers["x-frugal-model"] != "auto"
        body.pop("model")
        assert sent == body
        assert "max_tokens" not in sent and "max_completion_tokens" not in sent


class TestCacheKey:
    async def test_output_affecting_fields_change_the_key(self, client: AsyncOpenAI) -> None:
        question = "What is the weather in Tromso for 6 days?"
        base: dict[str, Any] = {
            "model": "gpt-4o-mini",
            "messages": user(question),
            "tools": [WEATHER_TOOL],
            "temperature": 0,
        }
        variants: list[dict[str, Any]] = [
            base,
            {**base, "tools": TOOLS},
            {**base, "tools": [TIME_TOOL]},
            {**base, "tool_choice": "none"},
            {**base, "tool_choice": {"type": "function", "function": {"name": "get_weather"}}},
            {**base, "response_format": {"type": "json_object"}, "tools": None},
            {**base, "temperature": 0.5, "seed": 3},
            {**base, "temperature": 0.5, "seed": 4},
            {**base, "temperature": 0.0, "seed": 4},
            {**base, "top_p": 0.5},
        ]
        for number, variant in enumerate(variants):
            kwargs = {k: v for k, v in variant.items() if v is not None}
            _, cache = await create_raw(client, **kwargs)
            assert cache == "miss", f"variant {number}: {kwargs}"
        for number, variant in enumerate(variants):
            kwargs = {k: v for k, v in variant.items() if v is not None}
            _, cache = await create_raw(client, **kwargs)
            assert cache == "exact", f"variant {number}: {kwargs}"

    async def test_default_temperature_without_seed_is_never_a_hit(
        self, client: AsyncOpenAI
    ) -> None:
        for _ in range(3):
            _, cache = await create_raw(
                client, model="gpt-4o-mini", messages=user("Is there a student discount?")
            )
            assert cache == "miss"

    async def test_transport_fields_do_not_change_the_key(self, client: AsyncOpenAI) -> None:
        messages = user("Is there a discount for charities?")
        _, cache = await create_raw(client, model="gpt-4o-mini", messages=messages, temperature=0)
        assert cache == "miss"
        _, cache = await create_raw(
            client,
            model="gpt-4o-mini",
            messages=messages,
            temperature=0,
            metadata={"a": "b"},
            store=False,
            user="someone",
        )
        assert cache == "exact"


class TestClients:
    async def test_sync_client(self, gw: SimGateway) -> None:
        def call(c: openai.OpenAI) -> Any:
            return c.chat.completions.with_raw_response.create(
                model="gpt-4o-mini",
                messages=user("Can I change my delivery slot?"),
                temperature=0,
            )

        first = await with_sync_client(gw.base_url, call)
        again = await with_sync_client(gw.base_url, call)
        assert [first.headers[CACHE], again.headers[CACHE]] == ["miss", "exact"]
        assert comparable(again.parse()) == comparable(first.parse())
        info = frugal(first.parse())
        assert info["cache"] == "miss" and info["model"] == "gpt-4o-mini"
        assert frugal(again.parse())["cache"] == "exact"

    async def test_streamed_exact_hit_replays_the_same_text(self, client: AsyncOpenAI) -> None:
        kwargs: dict[str, Any] = {
            "model": "gpt-4o-mini",
            "messages": user("Can I change my delivery address after ordering?"),
            "temperature": 0,
            "stream": True,
        }
        texts = []
        for expected in ("miss", "exact"):
            raw = await client.chat.completions.with_raw_response.create(**kwargs)
            assert raw.headers[CACHE] == expected
            chunks = [chunk async for chunk in raw.parse()]
            assert all(chunk.usage is None for chunk in chunks)
            assert chunks[-1].choices[0].finish_reason == "stop"
            texts.append(streamed_text(chunks))
        whole, cache = await create_raw(client, **{**kwargs, "stream": False})
        assert cache == "exact"
        assert texts[0] == texts[1] == whole.choices[0].message.content
        assert texts[0]

    async def test_include_usage_gives_a_final_usage_chunk(self, client: AsyncOpenAI) -> None:
        kwargs: dict[str, Any] = {
            "model": "gpt-4o-mini",
            "messages": user("Can I split a payment over two cards?"),
            "temperature": 0,
            "stream": True,
            "stream_options": {"include_usage": True},
        }
        usages = []
        for expected in ("miss", "exact"):
            raw = await client.chat.completions.with_raw_response.create(**kwargs)
            assert raw.headers[CACHE] == expected
            chunks = [chunk async for chunk in raw.parse()]
            last = chunks[-1]
            assert last.choices == [] and last.usage is not None
            assert last.usage.prompt_tokens > 0 and last.usage.completion_tokens > 0
            assert all(chunk.usage is None for chunk in chunks[:-1])
            usages.append(last.usage)
        assert usages[0] == usages[1]

    async def test_frugal_comment_carries_the_billed_cost(
        self, gw: SimGateway, http: aiohttp.ClientSession
    ) -> None:
        async def total_cost() -> int:
            async with http.get(f"{gw.base_url}/stats") as response:
                assert response.status == 200
                return int((await response.json())["cost_usd_micros"])

        before = await total_cost()
        body = {
            "model": "gpt-4o-mini",
            "messages": [{"role": "user", "content": "Can I pay in instalments?"}],
            "stream": True,
        }
        async with http.post(
            f"{gw.base_url}/v1/chat/completions", json=body, headers={"Authorization": "Bearer k"}
        ) as response:
            assert response.status == 200
            text = await response.text()
        assert text.endswith("data: [DONE]\n\n")
        [comment] = [c for c in sse_comments(text) if c.startswith("frugal ")]
        info = json.loads(comment.removeprefix("frugal "))
        assert info["cost_usd_micros"] > 0 and info["model"] == "gpt-4o-mini"
        chunks = [
            json.loads(line.removeprefix("data: "))
            for line in text.splitlines()
            if line.startswith("data: {")
        ]
        # The usage chunk the gateway asked for on the caller's behalf is not relayed.
        assert chunks and all(chunk.get("usage") is None for chunk in chunks)
        assert all(chunk["choices"] for chunk in chunks)
        assert await total_cost() - before == info["cost_usd_micros"]
