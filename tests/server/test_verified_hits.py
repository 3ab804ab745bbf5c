"""Verified semantic hits end to end: a real gateway asks the real simulator as its judge,
serves a paraphrase only on ``yes``, and bills every judge call to the tenant (issue 17)."""

from __future__ import annotations

import uuid
from typing import Any

import aiohttp
import pytest
import redis.asyncio as redis

from server.config import load_settings
from tests.support.cost_http import stats_of
from tests.support.gateway import run_gateway
from tests.support.redis_server import RedisServer
from tests.support.simulator import run_simulator

pytestmark = pytest.mark.anyio

MODEL = "gpt-4o-mini"


async def ask(http: aiohttp.ClientSession, base: str, question: str) -> tuple[str, int]:
    body = {"model": MODEL, "temperature": 0, "messages": [{"role": "user", "content": question}]}
    async with http.post(f"{base}/v1/chat/completions", json=body) as response:
        assert response.status == 200, await response.text()
        await response.read()
        return (
            response.headers["x-frugal-cache"],
            int(response.headers["x-frugal-cost-usd-micros"]),
        )


async def test_the_judge_decides_the_gray_zone_and_is_billed() -> None:
    async with run_simulator() as sim:
        settings = load_settings(
            {
                "OPENAI_BASE_URL": f"{sim.base_url}/v1",
                "OPENAI_API_KEY": "k",
                "FRUGAL_CACHE_SEMANTIC_VERIFY_MODEL": MODEL,
                "FRUGAL_CACHE_SEMANTIC_MAX_ERROR_RATE": "0.05",
                "FRUGAL_CACHE_SEMANTIC_VERIFY_FLOOR": "0.7",
            }
        )
        async with run_gateway(settings) as gw, aiohttp.ClientSession() as http:
            first = await ask(http, gw.base_url, "How do I reset my password?")
            calls_after_first = sim.stats().requests_by_model[MODEL]
            # Same content words: the simulated judge says yes, the answer comes from the cache.
            paraphrase = await ask(http, gw.base_url, "How can I reset my password, please?")
            calls_after_paraphrase = sim.stats().requests_by_model[MODEL]
            # Another verb (left to the score): the judge says no, the provider answers.
            different = await ask(http, gw.base_url, "How do I change my password?")
            calls_after_different = sim.stats().requests_by_model[MODEL]
            stats: dict[str, Any] = await stats_of(http, gw.base_url)
    assert first[0] == "miss" and first[1] > 0
    assert paraphrase[0] == "semantic"
    assert calls_after_paraphrase - calls_after_first == 1  # the judge's call, no answer call
    assert different[0] == "miss"
    assert calls_after_different - calls_after_paraphrase == 2  # the judge, then the answer
    judged = stats["by_tier"]["verify"]
    assert judged["calls"] == 2 and judged["cost_usd_micros"] > 0
    # Every micro-dollar in /stats is a billed answer or a billed judge call.
    assert stats["cost_usd_micros"] == first[1] + different[1] + judged["cost_usd_micros"]


async def test_replicas_on_one_redis_share_the_judges_verdicts(redis_server: RedisServer) -> None:
    prefix = f"verdicts-{uuid.uuid4().hex[:10]}:"
    async with run_simulator() as sim:
        settings = load_settings(
            {
                "OPENAI_BASE_URL": f"{sim.base_url}/v1",
                "OPENAI_API_KEY": "k",
                "FRUGAL_REDIS_URL": redis_server.url,
                "FRUGAL_REDIS_KEY_PREFIX": prefix,
                "FRUGAL_REDIS_TIMEOUT_S": "2",
                "FRUGAL_CACHE_EXACT_ENABLED": "false",
                "FRUGAL_CACHE_SEMANTIC_VERIFY_MODEL": MODEL,
                "FRUGAL_CACHE_SEMANTIC_VERIFY_FLOOR": "0.7",
            }
        )
        async with aiohttp.ClientSession() as http:
            async with run_gateway(settings) as a:
                assert (await ask(http, a.base_url, "How do I reset my password?"))[0] == "miss"
                approved = await ask(http, a.base_url, "How can I reset my password, please?")
                rejected = await ask(http, a.base_url, "How do I change my password?")
            assert (approved[0], rejected[0]) == ("semantic", "miss")
            calls = sim.stats().requests_by_model[MODEL]
            # B starts after A has gone: it loads the entry, and asks Redis what A's judge said.
            async with run_gateway(settings) as b:
                again = await ask(http, b.base_url, "How can I reset my password, please?")
            assert again[0] == "semantic"
            assert sim.stats().requests_by_model[MODEL] == calls  # no judge call on B
    client = redis.Redis.from_url(redis_server.url)
    try:
        keys = {key async for key in client.scan_iter(match=f"{prefix}verdict:*")}
        bins = next(key for key in keys if key.endswith(b":bins"))
        # One entry judged twice (approved, then rejected); one count of each in the pool.
        assert len(keys) == 2 and sorted((await client.hgetall(bins)).values()) == [b"1", b"1"]
    finally:
        await client.aclose()
