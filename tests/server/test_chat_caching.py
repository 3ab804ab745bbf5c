"""Caching through the HTTP app: exact and semantic hits, shared Redis, Redis outages."""

from __future__ import annotations

import aiohttp
import pytest

from server.config import load_settings
from server.settings import Settings
from tests.support.gateway import run_gateway
from tests.support.redis_server import ControllableRedisServer, RedisServer

pytestmark = pytest.mark.anyio

FAST = {
    "FRUGAL_SIMULATED_CHEAP_TTFT_MS": "0",
    "FRUGAL_SIMULATED_STRONG_TTFT_MS": "0",
    "FRUGAL_SIMULATED_CHEAP_TOKENS_PER_S": "100000",
    "FRUGAL_SIMULATED_STRONG_TOKENS_PER_S": "100000",
}


def settings(**extra: str) -> Settings:
    return load_settings({**FAST, **extra})


async def ask(base_url: str, message: str, **fields: str) -> dict[str, object]:
    async with aiohttp.ClientSession() as http:
        response = await http.post(f"{base_url}/chat", json={"message": message, **fields})
        body = await response.json()
        assert response.status == 200, body
        return dict(body)


async def test_repeated_question_is_an_exact_hit_that_costs_nothing() -> None:
    async with run_gateway(settings()) as gw:
        first = await ask(gw.base_url, "How do I reset my password?")
        second = await ask(gw.base_url, "How do I reset my password?")
    assert first["cache"] is None and first["cost_usd_micros"] > 0
    assert second["cache"] == "exact"
    assert second["cost_usd_micros"] == 0
    assert second["saved_usd_micros"] == first["cost_usd_micros"]
    assert second["answer"] == first["answer"]


async def test_paraphrase_is_a_semantic_hit_and_negation_is_not() -> None:
    async with run_gateway(settings()) as gw:
        await ask(gw.base_url, "How do I reset my password?")
        paraphrase = await ask(gw.base_url, "How can I reset my password?")
        await ask(gw.base_url, "Can I cancel my order?")
        negated = await ask(gw.base_url, "Can I not cancel my order?")
    assert paraphrase["cache"] == "semantic"
    assert paraphrase["cost_usd_micros"] == 0
    assert negated["cache"] is None


async def test_no_cache_mode_skips_the_read() -> None:
    async with run_gateway(settings()) as gw:
        await ask(gw.base_url, "What payment methods do you accept?")
        fresh = await ask(gw.base_url, "What payment methods do you accept?", cache="no-cache")
    assert fresh["cache"] is None and fresh["cost_usd_micros"] > 0


async def test_two_replicas_share_the_cache_through_redis(redis_server: RedisServer) -> None:
    common = {"REDIS_URL": redis_server.url, "FRUGAL_REDIS_KEY_PREFIX": "replicas:"}
    async with run_gateway(settings(**common)) as a, run_gateway(settings(**common)) as b:
        first = await ask(a.base_url, "How long does shipping take?")
        second = await ask(b.base_url, "How long does shipping take?")
    assert first["cache"] is None
    assert second["cache"] == "exact"


async def test_redis_going_away_keeps_requests_succeeding() -> None:
    with ControllableRedisServer() as server:
        async with run_gateway(settings(REDIS_URL=server.url)) as gw:
            await ask(gw.base_url, "How do I update my billing address?")
            server.stop()
            during = await ask(gw.base_url, "How do I change my email address?")
            assert during["answer"] and during["cache"] is None
            server.start()
            await ask(gw.base_url, "Do you ship internationally?")
            again = await ask(gw.base_url, "Do you ship internationally?")
            assert again["cache"] == "exact"


async def test_chat_names_the_cache_layer_and_the_score_in_headers() -> None:
    async with run_gateway(settings()) as gw, aiohttp.ClientSession() as http:
        seen = []
        for message in (
            "How do I reset my password?",
            "How do I reset my password?",
            "How can I reset my password?",
        ):
            response = await http.post(f"{gw.base_url}/chat", json={"message": message})
            body = await response.json()
            seen.append(
                (
                    response.headers["x-frugal-cache"],
                    response.headers.get("x-frugal-cache-score"),
                    body["cache"],
                    body["cache_diagnostics"]["semantic_score"],
                )
            )
    (miss, _, miss_body, _), (exact, exact_score, exact_body, _), semantic = seen
    assert (miss, miss_body, exact, exact_body, exact_score) == (
        "miss",
        None,
        "exact",
        "exact",
        None,
    )
    assert semantic[0] == semantic[2] == "semantic"
    assert semantic[1] == f"{semantic[3]:.4f}" and float(semantic[1]) >= 0.9
