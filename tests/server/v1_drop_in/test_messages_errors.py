"""``/v1/messages`` errors in Anthropic's shape (``{"type": "error", "error": {...}}``) with
Anthropic's statuses, as the official SDK sees them; the semantic cache, rate limits and
keys on a gateway with auth on; and the money a Messages request costs, as its headers and
``/stats`` report it."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import anthropic
import pytest
from anthropic import AsyncAnthropic

from tests.support.cost_http import (
    ACME_KEY,
    ADMIN_KEY,
    BETA_KEY,
    bearer,
    fast_settings,
    with_keys,
)
from tests.support.gateway import RunningGateway, run_gateway
from tests.support.v1 import SimGateway

pytestmark = pytest.mark.anyio

CLAUDE = "claude-haiku-4-5"
GPT = "gpt-4o-mini"


@pytest.fixture(scope="module")
async def guarded() -> AsyncIterator[RunningGateway]:
    """A simulated gateway with API keys and a two-request window per key."""
    settings = with_keys(fast_settings(FRUGAL_LIMITS_REQUESTS_PER_WINDOW="2"))
    async with run_gateway(settings) as running:
        yield running


@pytest.fixture
async def claude(gw: SimGateway) -> AsyncIterator[AsyncAnthropic]:
    async with AsyncAnthropic(base_url=gw.base_url, api_key="k", max_retries=0) as client:
        yield client


def user(text: str) -> list[dict[str, Any]]:
    return [{"role": "user", "content": text}]


def assert_anthropic_error(body: Any, kind: str) -> str:
    assert isinstance(body, dict) and body["type"] == "error", body
    assert body["error"]["type"] == kind, body
    message = body["error"]["message"]
    assert isinstance(message, str) and message
    return message


class TestRefusals:
    @pytest.mark.parametrize(
        ("body", "field"),
        [
            ({"model": CLAUDE, "messages": user("Hi")}, "max_tokens"),
            ({"model": CLAUDE, "max_tokens": 10, "messages": []}, "messages"),
            ({"model": CLAUDE, "max_tokens": 10, "messages": "Hi"}, "messages"),
            (
                {"model": CLAUDE, "max_tokens": 10, "messages": [{"role": "tool", "content": "x"}]},
                "messages[0].role",
            ),
            ({"model": GPT, "max_tokens": 10, "top_k": 5, "messages": user("Hi")}, "top_k"),
            (
                {
                    "model": GPT,
                    "max_tokens": 10,
                    "messages": [
                        {
                            "role": "user",
                            "content": [
                                {
                                    "type": "document",
                                    "source": {"type": "text", "data": "x", "media_type": "t/p"},
                                }
                            ],
                        }
                    ],
                },
                "messages[0].content[0].type",
            ),
            (
                {
                    "model": GPT,
                    "max_tokens": 10,
                    "messages": user("Hi"),
                    "tools": [{"type": "web_search_20250305", "name": "web_search"}],
                },
                "tools[0].type",
            ),
        ],
    )
    async def test_bad_request_is_a_400_naming_the_field(
        self, gw: SimGateway, http: aiohttp.ClientSession, body: dict[str, Any], field: str
    ) -> None:
        async with http.post(
            f"{gw.base_url}/v1/messages", json=body, headers={"x-api-key": "k"}
        ) as response:
            assert response.status == 400
            message = assert_anthropic_error(await response.json(), "invalid_request_error")
        assert field in message

    async def test_sdk_sees_bad_request(self, claude: AsyncAnthropic) -> None:
        with pytest.raises(anthropic.BadRequestError) as caught:
            await claude.messages.create(
                model=CLAUDE, max_tokens=0, messages=[{"role": "user", "content": "Hi"}]
            )
        assert_anthropic_error(caught.value.body, "invalid_request_error")

    async def test_unknown_model_is_not_found(self, claude: AsyncAnthropic) -> None:
        with pytest.raises(anthropic.NotFoundError) as caught:
            await claude.messages.create(
                model="no-such-model-anywhere", max_tokens=10, messages=user("Hi")
            )
        assert_anthropic_error(caught.value.body, "not_found_error")

    async def test_count_tokens_errors_are_anthropic_shaped(self, claude: AsyncAnthropic) -> None:
        with pytest.raises(anthropic.NotFoundError) as caught:
            await claude.messages.count_tokens(model="no-such-model-anywhere", messages=user("x"))
        assert_anthropic_error(caught.value.body, "not_found_error")

    async def test_a_refused_model_falls_back_across_protocols(
        self, gw: SimGateway, claude: AsyncAnthropic, http: aiohttp.ClientSession
    ) -> None:
        model = "claude-sonnet-4-6"  # its fallback is gpt-4o-mini: translated
        await pin_fault(http, gw, model, "context_length")
        try:
            raw = await claude.messages.with_raw_response.create(
                model=model, max_tokens=50, messages=user("Hi, who answers?")
            )
        finally:
            await pin_fault(http, gw, model, None)
        message = await raw.parse()
        assert message.content and message.model.startswith(GPT)
        assert raw.headers["x-frugal-fallback"].startswith(GPT)

    async def test_a_provider_failure_keeps_anthropic_shape(
        self, gw: SimGateway, claude: AsyncAnthropic, http: aiohttp.ClientSession
    ) -> None:
        model = "claude-sonnet-4-6"
        for name in (model, GPT):
            await pin_fault(http, gw, name, "401")
        try:
            with pytest.raises(anthropic.APIStatusError) as caught:
                await claude.messages.create(model=model, max_tokens=10, messages=user("Hi"))
        finally:
            for name in (model, GPT):
                await pin_fault(http, gw, name, None)
        assert caught.value.status_code == 502
        assert_anthropic_error(caught.value.body, "api_error")

    async def test_a_broken_stream_ends_with_an_error_event(
        self, gw: SimGateway, http: aiohttp.ClientSession
    ) -> None:
        model = "claude-opus-4-7"
        body = {
            "model": model,
            "max_tokens": 300,
            "stream": True,
            "messages": user("Explain prompt caching in detail, please"),
        }
        await pin_fault(http, gw, model, "disconnect")
        try:
            async with http.post(
                f"{gw.base_url}/v1/messages", json=body, headers={"x-api-key": "k"}
            ) as response:
                status, text = response.status, await response.text()
        finally:
            await pin_fault(http, gw, model, None)
        assert status == 200, text
        blocks = [b for b in text.split("\n\n") if b.startswith("event: ")]
        assert blocks[0].startswith("event: message_start")
        last = blocks[-1]
        assert last.startswith("event: error\n"), text[-500:]
        assert_anthropic_error(json.loads(last.split("data: ", 1)[1]), "api_error")


class TestAuthAndLimits:
    async def test_wrong_key_is_401(self, guarded: RunningGateway) -> None:
        async with AsyncAnthropic(
            base_url=guarded.base_url, api_key="not-a-key", max_retries=0
        ) as client:
            with pytest.raises(anthropic.AuthenticationError) as caught:
                await client.messages.create(model="auto", max_tokens=10, messages=user("Hi"))
        assert_anthropic_error(caught.value.body, "authentication_error")

    async def test_the_sdk_key_header_is_accepted_and_rate_limited(
        self, guarded: RunningGateway
    ) -> None:
        async with AsyncAnthropic(
            base_url=guarded.base_url, api_key=ACME_KEY, max_retries=0
        ) as client:
            for question in ("How do I reset my password?", "Do you ship to Canada?"):
                raw = await client.messages.with_raw_response.create(
                    model="auto", max_tokens=50, messages=user(question)
                )
                assert (await raw.parse()).content
                assert raw.headers["x-frugal-route"] in ("cheap", "strong")
            with pytest.raises(anthropic.RateLimitError) as caught:
                await client.messages.create(model="auto", max_tokens=10, messages=user("Hi"))
        assert_anthropic_error(caught.value.body, "rate_limit_error")
        assert caught.value.response.headers["retry-after"]


class TestSemanticCache:
    async def test_a_paraphrase_is_answered_in_messages_shape(
        self, guarded: RunningGateway
    ) -> None:
        async with AsyncAnthropic(
            base_url=guarded.base_url, api_key=BETA_KEY, max_retries=0
        ) as client:
            answers = []
            for question in ("How do I reset my password?", "How can I reset my password?"):
                raw = await client.messages.with_raw_response.create(
                    model=GPT,
                    max_tokens=200,
                    messages=user(question),
                    extra_body={"temperature": 0},
                )
                answers.append((await raw.parse(), raw.headers["x-frugal-cache"]))
        (first, first_cache), (second, second_cache) = answers
        assert (first_cache, second_cache) == ("miss", "semantic")
        assert second.model_dump()["content"] == first.model_dump()["content"]
        assert second.id != first.id and second.stop_reason == "end_turn"


class TestAccounting:
    @pytest.mark.parametrize("stream", [False, True])
    @pytest.mark.parametrize("model", [CLAUDE, GPT])
    async def test_billed_cost_is_what_stats_recorded(
        self, gw: SimGateway, http: aiohttp.ClientSession, model: str, stream: bool
    ) -> None:
        before = await total_cost(http, gw)
        body = {
            "model": model,
            "max_tokens": 100,
            "stream": stream,
            "messages": user(f"What does a gateway do? ({model}, {stream})"),
        }
        async with http.post(
            f"{gw.base_url}/v1/messages", json=body, headers={"x-api-key": "k"}
        ) as response:
            assert response.status == 200
            text = await response.text()
            headers = response.headers
        if stream:
            [comment] = [line for line in text.splitlines() if line.startswith(": frugal ")]
            cost = json.loads(comment.removeprefix(": frugal "))["cost_usd_micros"]
        else:
            cost = int(headers["x-frugal-cost-usd-micros"])
        assert cost > 0
        assert await total_cost(http, gw) - before == cost


async def total_cost(http: aiohttp.ClientSession, gw: SimGateway) -> int:
    async with http.get(f"{gw.base_url}/stats", headers=bearer(ADMIN_KEY)) as response:
        assert response.status == 200
        return int((await response.json())["cost_usd_micros"])


async def pin_fault(
    http: aiohttp.ClientSession, gw: SimGateway, model: str, fault: str | None
) -> None:
    async with http.put(
        f"{gw.sim.base_url}/_sim/faults", json={"model": model, "fault": fault}
    ) as response:
        assert response.status == 200, await response.text()
