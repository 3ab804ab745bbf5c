"""Stored Responses on a real Redis: a conversation started on one gateway continues on a
second one (same Redis, same namespace), and one tenant can never read, continue or delete
another tenant's stored response."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import openai
import pytest
import redis.asyncio as redis
from openai import AsyncOpenAI, NotFoundError

from server.config import load_settings
from tests.support.gateway import run_gateway
from tests.support.redis_server import RedisServer
from tests.support.simulator import RunningSimulator
from tests.support.v1 import WEATHER_TOOL

pytestmark = pytest.mark.anyio

ACME_KEY = "acme-responses-key-0123456789"
GLOBEX_KEY = "globex-responses-key-0123456789"
TOOLS = [{"type": "function", **WEATHER_TOOL["function"]}]


@asynccontextmanager
async def two_gateways(
    sim: RunningSimulator, redis_url: str, prefix: str
) -> AsyncIterator[tuple[str, str]]:
    settings = load_settings(
        {
            "OPENAI_BASE_URL": f"{sim.base_url}/v1",
            "OPENAI_API_KEY": "k",
            "FRUGAL_REDIS_URL": redis_url,
            "FRUGAL_REDIS_KEY_PREFIX": prefix,
            "FRUGAL_REDIS_TIMEOUT_S": "2",
            "FRUGAL_AUTH_API_KEYS": f"acme:{ACME_KEY},globex:{GLOBEX_KEY}",
            "FRUGAL_RESPONSES_STORE_TTL_S": "600",
        }
    )
    async with run_gateway(settings) as first, run_gateway(settings) as second:
        yield first.base_url, second.base_url


def client(base_url: str, key: str) -> AsyncOpenAI:
    return AsyncOpenAI(base_url=f"{base_url}/v1", api_key=key, max_retries=0, timeout=30)


async def test_a_conversation_continues_on_another_replica_and_stays_in_its_tenant(
    sim: RunningSimulator, redis_server: RedisServer
) -> None:
    prefix = f"resp-{uuid.uuid4().hex[:10]}:"
    async with two_gateways(sim, redis_server.url, prefix) as (one, two):
        async with client(one, ACME_KEY) as acme_one, client(two, ACME_KEY) as acme_two:
            first = await acme_one.responses.create(
                model="gpt-4o-mini",
                input="What is the weather in Oslo for 3 days?",
                tools=TOOLS,
                temperature=0,
            )
            [call] = [item for item in first.output if item.type == "function_call"]
            # The entry lives in Redis under the tenant's key, with the configured TTL.
            store = redis.Redis.from_url(redis_server.url)
            try:
                key = f"{prefix}resp:acme:{first.id}"
                assert 0 < await store.ttl(key) <= 600
                assert json.loads(await store.get(key))["response"]["id"] == first.id
            finally:
                await store.aclose()
            final = await acme_two.responses.create(
                model="gpt-4o-mini",
                previous_response_id=first.id,
                input=[{"type": "function_call_output", "call_id": call.call_id, "output": "Fog"}],
                tools=TOOLS,
                temperature=0,
            )
            assert "Based on get_weather: Fog" in final.output_text
            assert (await acme_one.responses.retrieve(final.id)).output_text == final.output_text
        async with client(two, GLOBEX_KEY) as globex:
            with pytest.raises(NotFoundError):
                await globex.responses.retrieve(first.id)
            with pytest.raises(NotFoundError):
                await globex.responses.input_items.list(first.id)
            with pytest.raises(NotFoundError) as caught:
                await globex.responses.create(
                    model="gpt-4o-mini", input="And tomorrow?", previous_response_id=first.id
                )
            assert caught.value.body["param"] == "previous_response_id"  # type: ignore[index]
            with pytest.raises(NotFoundError):
                await globex.responses.delete(first.id)
        async with client(one, ACME_KEY) as acme:
            assert (await acme.responses.retrieve(first.id)).id == first.id


async def test_rate_limit_and_budget_apply_in_openai_shape(sim: RunningSimulator) -> None:
    settings = load_settings(
        {
            "OPENAI_BASE_URL": f"{sim.base_url}/v1",
            "OPENAI_API_KEY": "k",
            "FRUGAL_AUTH_API_KEYS": f"acme:{ACME_KEY}",
            "FRUGAL_LIMITS_REQUESTS_PER_WINDOW": "2",
            # A cap smaller than any request's worst case: admitted requests are refused.
            "FRUGAL_BUDGET_TENANT_DAILY_USD_MICROS": "1",
        }
    )
    async with run_gateway(settings) as gw, client(gw.base_url, ACME_KEY) as c:
        with pytest.raises(openai.APIStatusError) as budget:
            await c.responses.create(model="gpt-4o-mini", input="Hi", max_output_tokens=50)
        assert budget.value.status_code == 503
        assert budget.value.body["code"] == "budget_exceeded"  # type: ignore[index]
        with pytest.raises(openai.APIStatusError):
            await c.responses.create(model="gpt-4o-mini", input="Hi", max_output_tokens=50)
        with pytest.raises(openai.RateLimitError) as limited:
            await c.responses.create(model="gpt-4o-mini", input="Hi", max_output_tokens=50)
        assert limited.value.body["type"] == "rate_limit_error"  # type: ignore[index]
        assert limited.value.response.headers["retry-after"]
