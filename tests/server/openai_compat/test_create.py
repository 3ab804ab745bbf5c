"""POST /v1/chat/completions with the official SDK: whole answers, routing, caching, headers."""

from __future__ import annotations

from typing import Any

import pytest
from openai import AsyncOpenAI

from tests.server.openai_compat.support import (
    FRUGAL_KEYS,
)
from tests.support.gateway import RunningGateway
from tests.support.openai_sdk import frugal, user, with_sync_client

pytestmark = pytest.mark.anyio


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
