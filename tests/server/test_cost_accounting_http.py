"""Accounting over HTTP: /stats adds up to the responses, /metrics agrees, one JSON log line
per request (no keys, text or user ids), abandoned streams are billed."""

from __future__ import annotations

import json
import logging
import uuid
from collections import Counter
from typing import Any

import aiohttp
import anyio
import msgspec
import pytest

from server.request_log import REQUEST_LOGGER
from server.settings import AuthSettings
from tests.support.cost_http import (
    ACME_KEY,
    BETA_KEY,
    PARAPHRASES,
    SUPPORT_QUESTIONS,
    TECHNICAL_QUESTIONS,
    Exposition,
    Gateway,
    abandon,
    assert_stats_add_up,
    bearer,
    fast_settings,
    mixed_traffic,
    refused,
    stats_of,
    user,
    with_keys,
)
from tests.support.gateway import run_gateway
from tests.support.redis_server import RedisServer

pytestmark = pytest.mark.anyio


class TestAccountingAddsUp:
    @pytest.mark.parametrize("backend", ["memory", "redis"])
    async def test_stats_equal_the_sum_of_the_responses(
        self, backend: str, request: pytest.FixtureRequest, http: aiohttp.ClientSession
    ) -> None:
        env = {}
        if backend == "redis":
            redis: RedisServer = request.getfixturevalue("redis_server")
            env = {
                "FRUGAL_REDIS_URL": redis.url,
                "FRUGAL_REDIS_KEY_PREFIX": f"t-{uuid.uuid4().hex[:10]}:",
                "FRUGAL_REDIS_TIMEOUT_S": "2",
            }
        async with run_gateway(fast_settings(**env)) as running:
            gw = Gateway(http, running.base_url)
            answers = await mixed_traffic(gw)
            # Refused requests are not calls and cost nothing.
            async with http.post(f"{gw.base_url}/chat", data=b"{nope") as response:
                assert response.status == 400
            async with http.post(f"{gw.base_url}/chat", json={"message": "hi", "x": 1}) as r:
                assert r.status == 422
            stats = await stats_of(http, gw.base_url)
        # Rounds two and three hit the exact cache; both paraphrases the semantic one.
        asked = len(SUPPORT_QUESTIONS) + len(TECHNICAL_QUESTIONS)
        assert Counter(a.cache for a in answers) == {
            "exact": 2 * asked,
            "semantic": len(PARAPHRASES),
            None: asked + len(PARAPHRASES) + 3,
        }
        assert {a.tier for a in answers} >= {"cheap", "strong", "cache"}
        assert {a.endpoint for a in answers} == {"chat", "chat_stream", "chat_completions"}
        assert all(a.cost == 0 for a in answers if a.cache is not None)
        assert all(a.cost > 0 for a in answers if a.cache is None)
        assert_stats_add_up(stats, answers)
        assert stats["by_tenant"]["default"]["cost_usd_micros"] == stats["cost_usd_micros"]
        assert stats["unpriced_calls"] == 0 and stats["dropped_cost_records"] == 0
        assert stats["errors"]["caller"] == 2
        assert stats["budget_enabled"] is False and stats["budget"] == []


class TestMetrics:
    async def test_metrics_parse_and_agree_with_stats(self, http: aiohttp.ClientSession) -> None:
        settings = fast_settings(FRUGAL_LIMITS_REQUESTS_PER_WINDOW="6")
        async with run_gateway(settings) as running:
            base = running.base_url
            gw = Gateway(http, base)
            answers = [
                await gw.chat("How do I reset my password?"),
                await gw.chat("How do I reset my password?"),  # exact hit
                await gw.chat("How can I reset my password?"),  # semantic hit
                await gw.completion("Can I pay with PayPal?", stream=True),
                await gw.stream("Why does the API return a stack trace on upload?"),
                await gw.completion("Do you ship to Canada?"),
            ]
            async with http.post(f"{base}/chat", data=b"{nope") as response:
                assert response.status == 400  # the caller's fault; not admitted
            async with http.post(f"{base}/chat", json={"message": "One more?"}) as response:
                assert response.status == 429  # policy: the seventh admission
            stats = await stats_of(http, base)
            async with http.get(f"{base}/metrics") as response:
                assert response.status == 200
                assert response.headers["Content-Type"].startswith("text/plain")
                metrics = Exposition(await response.text())
        assert [a.cache for a in answers] == [None, "exact", "semantic", None, None, None]
        assert metrics.total("frugal_requests_total") == len(answers) + 2
        assert metrics.total("frugal_requests_total", status="200", outcome="ok") == len(answers)
        assert metrics.total("frugal_requests_total", status="429") == 1
        cost_by_model = metrics.by_label("frugal_cost_usd_micros_total", "model")
        assert sum(cost_by_model.values()) == stats["cost_usd_micros"]
        assert cost_by_model == {
            model: row["cost_usd_micros"]
            for model, row in stats["by_model"].items()
            if row["cost_usd_micros"]
        }
        tokens = metrics.by_label("frugal_tokens_total", "type")
        assert (
            tokens["input"] + tokens.get("cached_input", 0) + tokens.get("cache_write", 0)
            == (stats["tokens"]["input"])
        )
        assert tokens["output"] == stats["tokens"]["output"]
        lookups = {
            (layer, result): metrics.total(
                "frugal_cache_requests_total", layer=layer, result=result
            )
            for layer in ("exact", "semantic")
            for result in ("hit", "miss")
        }
        assert lookups["exact", "hit"] == stats["cache"]["exact_hits"] == 1
        assert lookups["semantic", "hit"] == stats["cache"]["semantic_hits"] == 1
        assert lookups["exact", "miss"] == len(answers) - 1
        assert metrics.total("frugal_fallbacks_total") == stats["fallbacks"] == 0
        assert metrics.total("frugal_route_total", tier="cache") == 2
        assert metrics.total("frugal_route_total", tier="strong") == 1
        for histogram in (
            "frugal_request_duration_seconds",
            "frugal_time_to_first_token_seconds",
            "frugal_overhead_seconds",
        ):
            assert metrics.families[histogram].type == "histogram"
        assert metrics.total("frugal_request_duration_seconds_count") == len(answers) + 2
        assert metrics.total("frugal_overhead_seconds_count") == len(answers) + 2
        assert metrics.total("frugal_time_to_first_token_seconds_count") == 2  # the streams
        assert metrics.total("frugal_errors_total", fault="caller", code="invalid_json") == 1
        assert metrics.total("frugal_errors_total", fault="policy", code="rate_limited") == 1
        assert metrics.total("frugal_errors_total") == 2
        assert stats["errors"] == {"caller": 1, "policy": 1, "provider": 0, "frugal": 0}


class TestRequestLog:
    async def test_one_json_line_per_request_and_no_secrets_anywhere(
        self, http: aiohttp.ClientSession, caplog: pytest.LogCaptureFixture
    ) -> None:
        caplog.set_level(logging.DEBUG)
        secret_words = "zanzibar-quokka-7731"
        user_id = "user-pii-4821-marmalade"
        question = f"Can I pay with PayPal for order {secret_words}?"
        settings = with_keys(fast_settings(FRUGAL_LIMITS_REQUESTS_PER_WINDOW="4"))
        # The key acts for its user, so the body's user_id is accepted (auth on trusts no other).
        keys = (f"acme:{ACME_KEY}:{user_id}", *settings.auth.api_keys[1:])
        settings = msgspec.structs.replace(settings, auth=AuthSettings(api_keys=keys))
        async with run_gateway(settings) as running:
            base = running.base_url
            acme = Gateway(http, base, bearer(ACME_KEY))
            answers = [
                await acme.chat(question, user_id=user_id),
                await acme.chat(question, user_id=user_id),
                await Gateway(http, base).stream(question, api_key=ACME_KEY, user_id=user_id),
                await acme.completion(question, stream=True, user=user_id),
            ]
            status, _, _ = await refused(
                http, "POST", f"{base}/chat", json={"message": question}, headers=bearer(ACME_KEY)
            )
            assert status == 429
            status, _, _ = await refused(
                http,
                "POST",
                f"{base}/chat",
                json={"message": question},
                headers=bearer(BETA_KEY + "0"),
            )
            assert status == 401
        lines = [json.loads(r.getMessage()) for r in caplog.records if r.name == REQUEST_LOGGER]
        assert len(lines) == len(answers) + 2
        for line, answer in zip(lines, answers, strict=False):
            assert line["request_id"] == answer.request_id
            assert line["tenant"] == "acme"
            assert line["route"] == answer.tier
            assert line.get("cache") == answer.cache
            assert line["model"] == answer.model
            assert line["cost_usd_micros"] == answer.cost
            assert line["tokens"]["input"] == answer.prompt
            assert line["tokens"]["output"] == answer.completion
            assert line["latency_ms"] > 0 and line["status"] == 200
        assert {line["endpoint"] for line in lines[:4]} == {
            "chat",
            "chat_stream",
            "chat_completions",
        }
        limited, unauthorized = lines[4:]
        assert (limited["status"], limited["error_code"], limited["fault"]) == (
            429,
            "rate_limited",
            "policy",
        )
        assert limited["tenant"] == "acme"
        assert (unauthorized["status"], unauthorized["error_code"]) == (401, "unauthorized")
        assert unauthorized["tenant"] == "unknown"
        # Nothing a caller wrote or holds reaches any logger, at any level.
        assert len(caplog.records) > len(lines)  # other loggers spoke too (DEBUG lines)
        for record in caplog.records:
            text = record.getMessage() + repr(record.__dict__)
            for secret in (ACME_KEY, BETA_KEY, secret_words, user_id):
                assert secret not in text, (record.name, record.getMessage())


class TestAbandonedStreams:
    async def test_a_stream_the_client_drops_is_still_billed(
        self, http: aiohttp.ClientSession
    ) -> None:
        # Ten tokens a second: an answer of ~60 tokens takes six seconds, so the client
        # leaves well before the end.
        settings = fast_settings(FRUGAL_SIMULATED_CHEAP_TOKENS_PER_S="10")
        async with run_gateway(settings) as running:
            base = running.base_url
            async with http.get(
                f"{base}/chat/stream", params={"message": "Can I pay with PayPal?"}
            ) as response:
                assert response.status == 200
                await abandon(response, after_tokens=3)
            async with http.post(
                f"{base}/v1/chat/completions",
                json={
                    "model": "auto",
                    "messages": user("Do you ship to Canada?"),
                    "stream": True,
                    "stream_options": {"include_usage": True},
                },
            ) as response:
                assert response.status == 200
                await abandon(response, after_tokens=3)
            stats: dict[str, Any] = {}
            with anyio.fail_after(15):
                while stats.get("calls", 0) < 2:
                    await anyio.sleep(0.05)
                    stats = await stats_of(http, base)
        assert stats["calls"] == 2
        assert stats["cost_usd_micros"] > 0
        # Billed for what was produced: at least the six tokens the client saw, and far from
        # two whole answers (~120 tokens; the bound leaves the server 1.5 s per stream to notice).
        assert 6 <= stats["tokens"]["output"] <= 36
        assert stats["tokens"]["input"] > 0
        assert stats["routes"] == {"cheap": 2}
        assert stats["estimated_usage_calls"] == 2  # cut before the provider's usage arrived
