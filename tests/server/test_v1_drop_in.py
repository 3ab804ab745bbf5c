"""``/v1`` as a drop-in for OpenAI: the official SDK against the gateway in front of the
upstream simulator, over real sockets. Tool calling, structured output, n, logprobs, images,
stop and length, byte-for-byte transparency, the cache key, streams, errors, models and
embeddings. Every test asks its own questions so the shared gateway's cache cannot leak
between tests."""

from __future__ import annotations

import itertools
import json
import logging
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
from tests.support.v1 import (
    TIME_TOOL,
    TOOLS,
    WEATHER_TOOL,
    SimGateway,
    comparable,
    fold_tool_call_deltas,
    sim_gateway,
    sse_comments,
    streamed_text,
    tool_calls_of,
)

pytestmark = pytest.mark.anyio

CACHE = "x-frugal-cache"
FAST_SIMULATED = {
    "FRUGAL_SIMULATED_CHEAP_TTFT_MS": "0",
    "FRUGAL_SIMULATED_STRONG_TTFT_MS": "0",
    "FRUGAL_SIMULATED_CHEAP_TOKENS_PER_S": "100000",
    "FRUGAL_SIMULATED_STRONG_TOKENS_PER_S": "100000",
}


@pytest.fixture(scope="module")
def anyio_backend() -> str:
    # Module scope so the shared gateways below live in one event loop for the whole module.
    return "asyncio"


@pytest.fixture(scope="module")
async def gw() -> AsyncIterator[SimGateway]:
    async with sim_gateway() as running:
        yield running


@pytest.fixture(scope="module")
async def simulated_gateway() -> AsyncIterator[RunningGateway]:
    """The default gateway: no provider configured, answers and embeddings simulated."""
    async with run_gateway(load_settings(FAST_SIMULATED)) as running:
        yield running


@pytest.fixture
async def client(gw: SimGateway) -> AsyncIterator[AsyncOpenAI]:
    async with gw.client() as c:
        yield c


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


async def create_raw(c: AsyncOpenAI, **kwargs: Any) -> tuple[Any, str]:
    """The parsed completion and its ``x-frugal-cache`` header."""
    raw = await c.chat.completions.with_raw_response.create(**kwargs)
    return raw.parse(), raw.headers[CACHE]


async def miss_then_hit(c: AsyncOpenAI, **kwargs: Any) -> Any:
    """Send the same request twice: a miss, then an exact hit replaying the same answer."""
    first, cache = await create_raw(c, **kwargs)
    assert cache == "miss"
    again, cache = await create_raw(c, **kwargs)
    assert cache == "exact"
    assert comparable(again) == comparable(first)
    assert again.id != first.id
    return first


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


BAD_BODIES: list[Any] = [
    (
        "n=0",
        b'{"model":"gpt-4o-mini","messages":[{"role":"user","content":"Hi"}],"n":0}',
        "n",
    ),
    (
        "temperature=5",
        b'{"model":"gpt-4o-mini","messages":[{"role":"user","content":"Hi"}],"temperature":5}',
        "temperature",
    ),
    pytest.param(
        "messages missing",
        b'{"model":"gpt-4o-mini"}',
        "messages",
    ),
    pytest.param(
        "role missing",
        b'{"model":"gpt-4o-mini","messages":[{"content":"Hi"}]}',
        "messages[0].role",
    ),
    (
        "messages empty",
        b'{"model":"gpt-4o-mini","messages":[]}',
        "messages",
    ),
    (
        "model with CR/LF",
        b'{"model":"gpt-4o\\r\\nx-evil: 1","messages":[{"role":"user","content":"Hi"}]}',
        "model",
    ),
    (
        "messages not a list",
        b'{"model":"gpt-4o-mini","messages":"Hi"}',
        "messages",
    ),
    (
        "role not a string",
        b'{"model":"gpt-4o-mini","messages":[{"role":1,"content":"Hi"}]}',
        "messages[0].role",
    ),
    ("malformed JSON", b'{"model":"gpt-4o-mini","messages":[', None),
    ("not an object", b"[1, 2]", None),
]


class TestErrors:
    async def test_unknown_model_is_not_found(self, client: AsyncOpenAI) -> None:
        with pytest.raises(openai.NotFoundError) as caught:
            await client.chat.completions.create(
                model="no-such-model-anywhere", messages=user("Hi there")
            )
        assert caught.value.status_code == 404
        assert caught.value.code == "model_not_found"
        assert caught.value.param == "model"

    @pytest.mark.parametrize(("name", "raw", "param"), BAD_BODIES)
    async def test_bad_body_is_a_400_naming_the_field(
        self,
        gw: SimGateway,
        http: aiohttp.ClientSession,
        name: str,
        raw: bytes,
        param: str | None,
    ) -> None:
        gw.sim.reset()
        async with http.post(
            f"{gw.base_url}/v1/chat/completions",
            data=raw,
            headers={"Content-Type": "application/json", "Authorization": "Bearer k"},
        ) as response:
            status, body = response.status, await response.json()
        assert status == 400, (name, body)
        error = body["error"]
        assert error["type"] == "invalid_request_error"
        assert error["message"]
        if param is not None:
            assert error["param"] == param, (name, error)
        assert not gw.sim.state.received(), "nothing may reach the provider"

    async def test_sdk_sees_bad_request_with_param(self, client: AsyncOpenAI) -> None:
        cases: list[tuple[dict[str, Any], str]] = [
            ({"n": 0}, "n"),
            ({"temperature": 5}, "temperature"),
            ({"model": "gpt-4o\nmini"}, "model"),
        ]
        for extra, param in cases:
            kwargs: dict[str, Any] = {"model": "gpt-4o-mini", "messages": user("Hi"), **extra}
            with pytest.raises(openai.BadRequestError) as caught:
                await client.chat.completions.create(**kwargs)
            assert caught.value.status_code == 400
            assert caught.value.param == param, extra

    async def test_sdk_sees_param_of_a_missing_field(self, client: AsyncOpenAI) -> None:
        with pytest.raises(openai.BadRequestError) as caught:
            await client.chat.completions.create(model="gpt-4o-mini", messages=openai.NOT_GIVEN)
        assert caught.value.param == "messages"

    async def test_an_error_keeps_the_connection_usable(
        self, gw: SimGateway, caplog: pytest.LogCaptureFixture
    ) -> None:
        url = f"{gw.base_url}/v1/chat/completions"
        bad = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "Hi"}], "n": 0}
        good = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "Hello!"}]}
        caplog.set_level(logging.ERROR)
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=1)) as one:
            for _ in range(3):
                async with one.post(url, json=bad, headers={"Authorization": "Bearer k"}) as r:
                    assert r.status == 400
                    await r.read()
                async with one.post(url, json=good, headers={"Authorization": "Bearer k"}) as r:
                    assert r.status == 200
                    await r.read()
        assert not [r for r in caplog.records if "Exception in ASGI" in r.getMessage()]

    async def test_no_422_on_v1(self, gw: SimGateway) -> None:
        bodies = [b.values[1] if hasattr(b, "values") else b[1] for b in BAD_BODIES] + [
            b'{"model":"gpt-4o-mini","messages":[{"role":"user","content":"Hi"}],"stream":"yes"}',
            b'{"model":"gpt-4o-mini","messages":[{"role":"user","content":"Hi"}],"n":"two"}',
            b'{"model":"gpt-4o-mini","messages":[{"content":"Hi"}]}',
            b'{"model":5,"messages":[{"role":"user","content":"Hi"}]}',
            b'{"model":"text-embedding-3-small","input":7}',
        ]
        # One connection per request: an error closes the connection (see the test above).
        connector = aiohttp.TCPConnector(force_close=True)
        async with aiohttp.ClientSession(connector=connector) as http:
            for path, raw in itertools.product(("/v1/chat/completions", "/v1/embeddings"), bodies):
                async with http.post(
                    f"{gw.base_url}{path}",
                    data=raw,
                    headers={"Content-Type": "application/json", "Authorization": "Bearer k"},
                ) as response:
                    assert response.status != 422, (path, raw, await response.text())
                    assert 400 <= response.status < 500, (path, raw, await response.text())

    async def test_provider_4xx_passes_through(self, client: AsyncOpenAI) -> None:
        with pytest.raises(openai.BadRequestError) as caught:
            await client.chat.completions.create(
                model="gpt-4o-mini",
                messages=user("Hi, what are your opening hours?"),
                logprobs=True,
                top_logprobs=30,
            )
        assert caught.value.status_code == 400
        assert "top_logprobs must be between 0 and 20" in caught.value.message


class TestModelsAndEmbeddings:
    async def test_list_and_retrieve_models(self, client: AsyncOpenAI) -> None:
        page = await client.models.list()
        ids = [m.id for m in page.data]
        assert "auto" in ids and "gpt-4o-mini" in ids and "claude-haiku-4-5" in ids
        assert len(ids) == len(set(ids))
        for name in ("auto", "gpt-4o-mini"):
            model = await client.models.retrieve(name)
            assert model.id == name and model.object == "model"
        with pytest.raises(openai.NotFoundError) as caught:
            await client.models.retrieve("no-such-model-anywhere")
        assert caught.value.code == "model_not_found"

    async def test_local_embeddings_and_their_cache(
        self, simulated_gateway: RunningGateway
    ) -> None:
        async with AsyncOpenAI(
            base_url=f"{simulated_gateway.base_url}/v1", api_key="k", max_retries=0, timeout=60
        ) as c:
            kwargs: dict[str, Any] = {
                "model": "all-MiniLM-L6-v2",
                "input": ["reset my password", "where is my parcel"],
            }
            first = await c.embeddings.with_raw_response.create(**kwargs)
            again = await c.embeddings.with_raw_response.create(**kwargs)
        result = first.parse()
        assert [len(item.embedding) for item in result.data] == [384, 384]
        assert [item.index for item in result.data] == [0, 1]
        assert result.usage.prompt_tokens > 0
        assert first.headers[CACHE] == "miss"
        assert again.headers[CACHE] == "exact"
        assert [i.embedding for i in again.parse().data] == [i.embedding for i in result.data]

    async def test_provider_embeddings_are_proxied(
        self, gw: SimGateway, client: AsyncOpenAI
    ) -> None:
        raw = await client.embeddings.with_raw_response.create(
            model="text-embedding-3-small", input=["proxied embedding input"]
        )
        result = raw.parse()
        assert len(result.data) == 1 and len(result.data[0].embedding) == 1536
        assert result.usage.prompt_tokens > 0
        sent = msgspec.json.decode(gw.last_received("/v1/embeddings"))
        assert sent["model"] == "text-embedding-3-small"
        assert sent["input"] == ["proxied embedding input"]
