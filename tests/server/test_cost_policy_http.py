"""Policy over HTTP: API keys and tenants, inbound rate limits, budgets (503 with Retry-After,
no SDK retries), the per-request completion cap."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import aiohttp
import pytest
from openai import APIStatusError

from agent.tokens import count_message_tokens
from agent.types import Message
from tests.support.cost_http import (
    ACME_KEY,
    BETA_KEY,
    TECHNICAL_QUESTIONS,
    Billed,
    Gateway,
    assert_stats_add_up,
    bearer,
    billed_from_sdk,
    chat_billed,
    clear_of_hour_boundary,
    fast_settings,
    refused,
    sdk,
    stats_of,
    user,
    with_keys,
    worst_case_usd_micros,
)
from tests.support.gateway import run_gateway

pytestmark = pytest.mark.anyio


class TestAuth:
    async def test_missing_or_wrong_key_gets_401_on_every_chat_endpoint(
        self, http: aiohttp.ClientSession
    ) -> None:
        refusals = 0
        async with run_gateway(with_keys(fast_settings())) as running:
            base = running.base_url
            for headers in ({}, bearer("not-a-key-0000000000"), {"x-api-key": BETA_KEY + "x"}):
                calls = (
                    http.post(f"{base}/chat", json={"message": "hi"}, headers=headers),
                    http.get(f"{base}/chat/stream", params={"message": "hi"}, headers=headers),
                    http.post(
                        f"{base}/v1/chat/completions",
                        json={"model": "auto", "messages": user("hi")},
                        headers=headers,
                    ),
                )
                for call in calls:
                    async with call as response:
                        body = await response.json()
                        assert response.status == 401, body
                        assert body["error"]["code"] == "unauthorized"
                        assert response.headers["WWW-Authenticate"] == "Bearer"
                        refusals += 1
            params = {"message": "hi", "api_key": "wrong-key-000000000000"}
            async with http.get(f"{base}/chat/stream", params=params) as response:
                assert response.status == 401
                refusals += 1
            with pytest.raises(APIStatusError) as caught:
                await sdk(
                    base,
                    "wrong-key-000000000000",
                    lambda c: c.chat.completions.create(model="auto", messages=user("hi")),
                )
            assert caught.value.status_code == 401 and caught.value.code == "unauthorized"
            refusals += 1
            stats = await stats_of(http, base)
        assert stats["calls"] == 0 and stats["cost_usd_micros"] == 0
        assert stats["errors"]["caller"] == refusals

    async def test_keys_name_tenants_and_stats_split_cost_per_tenant(
        self, http: aiohttp.ClientSession
    ) -> None:
        async with run_gateway(with_keys(fast_settings())) as running:
            base = running.base_url
            acme_bearer = Gateway(http, base, bearer(ACME_KEY))
            acme_header = Gateway(http, base, {"x-api-key": ACME_KEY})
            beta = Gateway(http, base, bearer(BETA_KEY))
            acme = [
                await acme_bearer.chat("How do I reset my password?"),
                await acme_header.completion("Can I pay with PayPal?"),
                # The same wire request streamed: an exact hit (the agent's /chat answer is a
                # different request to the provider, so it is not shared with /v1).
                await acme_header.completion("Can I pay with PayPal?", stream=True),
                # An EventSource cannot send headers: the key rides in the query.
                await Gateway(http, base).stream("Do you ship to Canada?", api_key=ACME_KEY),
                await acme_bearer.chat("Why does the API return a stack trace on upload?"),
            ]
            betas = [
                # The same question as acme's: caches are per tenant, so no hit.
                await beta.chat("How do I reset my password?"),
                await beta.stream("Do you ship to Canada?"),
                billed_from_sdk(
                    await sdk(
                        base,
                        BETA_KEY,
                        lambda c: c.chat.completions.create(
                            model="auto", messages=user("What is your refund policy?")
                        ),
                    )
                ),
            ]
            stats = await stats_of(http, base)
        assert [a.cache for a in acme] == [None, None, "exact", None, None]
        assert [a.cache for a in betas] == [None, None, None]
        assert_stats_add_up(stats, acme + betas)
        tenants = stats["by_tenant"]
        assert set(tenants) == {"acme", "beta"}
        for name, answers in (("acme", acme), ("beta", betas)):
            assert tenants[name]["calls"] == len(answers)
            assert tenants[name]["cost_usd_micros"] == sum(a.cost for a in answers)
            assert tenants[name]["saved_usd_micros"] == sum(a.saved for a in answers)
            assert tenants[name]["completion_tokens"] == sum(a.completion for a in answers)


class TestInboundRateLimit:
    async def test_fourth_request_in_the_window_is_refused_for_that_key_only(
        self, http: aiohttp.ClientSession
    ) -> None:
        settings = with_keys(fast_settings(FRUGAL_LIMITS_REQUESTS_PER_WINDOW="3"))
        async with run_gateway(settings) as running:
            base = running.base_url
            acme = Gateway(http, base, bearer(ACME_KEY))
            admitted = [
                await acme.chat("How do I reset my password?"),
                await Gateway(http, base).stream("Do you ship to Canada?", api_key=ACME_KEY),
                await acme.completion("Can I pay with PayPal?"),
            ]
            status, body, headers = await refused(
                http, "POST", f"{base}/chat", json={"message": "hi"}, headers=bearer(ACME_KEY)
            )
            assert status == 429, body
            assert body["error"]["code"] == "rate_limited"
            assert 1 <= int(headers["Retry-After"]) <= 60
            assert headers["X-RateLimit-Limit-Requests"] == "3"
            assert headers["X-RateLimit-Remaining-Requests"] == "0"
            assert headers["X-RateLimit-Reset-Requests"].endswith("s")
            status, body, headers = await refused(
                http,
                "POST",
                f"{base}/v1/chat/completions",
                json={"model": "auto", "messages": user("hi")},
                headers={"x-api-key": ACME_KEY},
            )
            assert status == 429 and body["error"]["code"] == "rate_limited"
            assert "Retry-After" in headers
            # beta has its own window.
            other = await Gateway(http, base, bearer(BETA_KEY)).chat("Can I pay with PayPal?")
            stats = await stats_of(http, base)
        remaining = [a.headers["X-RateLimit-Remaining-Requests"] for a in admitted]
        assert remaining == ["2", "1", "0"]
        assert all(a.headers["X-RateLimit-Limit-Requests"] == "3" for a in admitted)
        assert other.headers["X-RateLimit-Remaining-Requests"] == "2"
        assert stats["calls"] == 4 and stats["errors"]["policy"] == 2
        assert stats["by_tenant"]["acme"]["calls"] == 3

    async def test_token_limit_counts_prompt_and_answer_and_refuses_a_long_prompt(
        self, http: aiohttp.ClientSession
    ) -> None:
        limit = 200
        settings = with_keys(fast_settings(FRUGAL_LIMITS_TOKENS_PER_WINDOW=str(limit)))
        first_q, second_q = "Can I pay with PayPal?", "Do you ship to Canada?"
        long_q = "Please read all of this carefully. " * 60
        tokens = {
            q: count_message_tokens((Message("user", q),), "gpt-4o-mini")
            for q in (first_q, second_q, long_q)
        }
        async with run_gateway(settings) as running:
            base = running.base_url
            acme = Gateway(http, base, bearer(ACME_KEY))
            first = await acme.chat(first_q)
            second = await acme.chat(second_q)
            status, body, headers = await refused(
                http, "POST", f"{base}/chat", json={"message": long_q}, headers=bearer(ACME_KEY)
            )
            other = await Gateway(http, base, bearer(BETA_KEY)).chat(first_q)
        assert first.headers["X-RateLimit-Limit-Tokens"] == str(limit)
        assert first.headers["X-RateLimit-Remaining-Tokens"] == str(limit - tokens[first_q])
        # The first answer's tokens were added once it finished.
        used = tokens[first_q] + first.completion + tokens[second_q]
        assert second.headers["X-RateLimit-Remaining-Tokens"] == str(limit - used)
        assert tokens[long_q] > limit
        assert status == 429 and body["error"]["code"] == "rate_limited"
        assert headers["X-RateLimit-Limit-Tokens"] == str(limit)
        assert "Retry-After" not in headers  # waiting cannot make it fit
        assert other.headers["X-RateLimit-Remaining-Tokens"] == str(limit - tokens[first_q])


class TestBudgetOverHttp:
    async def test_requests_past_the_hourly_cap_get_503_and_the_sdk_does_not_retry(
        self, http: aiohttp.ClientSession
    ) -> None:
        questions = [f"{q} (ticket {i})" for i, q in enumerate(TECHNICAL_QUESTIONS)]
        worst = max(worst_case_usd_micros(q) for q in questions)
        # A strong answer costs ~1,800 micro-USD (gpt-4o, ~350 prompt + ~90 output tokens):
        # room for the worst case plus two to three answers.
        cap = worst + 4_000
        settings = fast_settings(FRUGAL_BUDGET_GLOBAL_HOURLY_USD_MICROS=str(cap))
        await clear_of_hour_boundary()
        async with run_gateway(settings) as running:
            base = running.base_url
            answers: list[Billed] = []
            refusal: tuple[int, dict[str, Any], Mapping[str, str]] | None = None
            refused_question = ""
            for question in questions:
                async with http.post(f"{base}/chat", json={"message": question}) as response:
                    body = await response.json()
                    if response.status != 200:
                        refusal = response.status, body, response.headers
                        refused_question = question
                        break
                    answers.append(chat_billed(body, response.headers))
            assert refusal is not None, "the cap never refused"
            # The refused question again: the same reservation, so refused again everywhere.
            status, stream_body, _ = await refused(
                http, "GET", f"{base}/chat/stream", params={"message": refused_question}
            )
            with pytest.raises(APIStatusError) as caught:
                await sdk(
                    base,
                    "k",
                    lambda c: c.chat.completions.create(
                        model="auto", messages=user(refused_question)
                    ),
                    retries=2,
                )
            stats = await stats_of(http, base)
        assert 2 <= len(answers) <= 4
        status_first, body, headers = refusal
        assert status_first == 503 and body["error"]["code"] == "budget_exceeded"
        assert status == 503 and stream_body["error"]["code"] == "budget_exceeded"
        [window] = stats["budget"]
        assert 1 <= int(headers["Retry-After"]) <= 3600
        until_reset = window["resets_at"] - stats["generated_at"]
        assert abs(int(headers["Retry-After"]) - until_reset) < 30
        sdk_error = caught.value
        assert sdk_error.status_code == 503 and sdk_error.code == "budget_exceeded"
        assert sdk_error.response.headers["x-should-retry"] == "false"
        # Three refusals in all: the SDK (max_retries=2) asked once.
        assert stats["errors"]["policy"] == 3
        spent = sum(a.cost for a in answers)
        assert_stats_add_up(stats, answers)
        assert window["scope"] == "global" and window["period"] == "hour"
        assert window["spent_usd_micros"] == spent
        assert window["reserved_usd_micros"] == 0
        assert window["cap_usd_micros"] == cap
        assert window["used_percent"] == round(spent * 100 / cap, 2)
        assert spent <= cap < spent + worst  # refused only once the worst case no longer fit
        assert stats["budget_enabled"] is True

    async def test_v1_budget_hold_follows_the_request_max_tokens(
        self, http: aiohttp.ClientSession
    ) -> None:
        # The agent's completion cap (FRUGAL_AGENT_MAX_COMPLETION_TOKENS) is for /chat, whose
        # body has no max_tokens (the pipeline's own refusal is tested with the pipeline).
        # The transparent /v1 wire forwards max_tokens and sizes the budget hold by it: the
        # strong model's price for the prompt plus max_tokens (4,096 when absent).
        cap = 5_000  # gpt-4o: 10 micro-USD per output token, so room for ~490 tokens
        settings = fast_settings(
            FRUGAL_AGENT_MAX_COMPLETION_TOKENS="256",
            FRUGAL_BUDGET_GLOBAL_HOURLY_USD_MICROS=str(cap),
        )
        await clear_of_hour_boundary()
        url_messages = user("Can I pay with PayPal?")
        async with run_gateway(settings) as running:
            base = running.base_url
            url = f"{base}/v1/chat/completions"
            refusals = []
            for extra in ({"max_tokens": 100_000}, {}):
                status, body, _ = await refused(
                    http,
                    "POST",
                    url,
                    json={"model": "auto", "messages": url_messages, **extra},
                )
                refusals.append((status, body["error"]["code"]))
            # Above the agent's cap of 256, yet small enough for the budget: admitted.
            within = await Gateway(http, base).completion("Can I pay with PayPal?", max_tokens=300)
            stats = await stats_of(http, base)
        assert refusals == [(503, "budget_exceeded"), (503, "budget_exceeded")]
        assert 0 < within.completion <= 300
        assert stats["calls"] == 1 and stats["errors"]["policy"] == 2
        [window] = stats["budget"]
        assert window["reserved_usd_micros"] == 0 and window["spent_usd_micros"] == within.cost
