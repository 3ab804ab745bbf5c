"""Two gateways on one Redis with the Query Engine share one semantic vector index: a
paraphrase asked on B is a semantic hit on the answer A stored (``/chat`` and ``/v1``), with
no replication stream; the backend is picked by ``auto`` detection or asked for explicitly."""

from __future__ import annotations

import uuid

import aiohttp
import pytest
import redis.asyncio as redis

from cache.semantic_redis import RedisVectorBackend
from server.config import load_settings
from server.semantic_store import open_vector_backend
from server.settings import Settings
from tests.cache.test_semantic_cache import HashingEmbedder
from tests.support.gateway import run_gateway
from tests.support.redis_server import RedisServer

pytestmark = pytest.mark.anyio


def settings(server: RedisServer, prefix: str, backend: str) -> Settings:
    return load_settings(
        {
            "FRUGAL_SIMULATED_CHEAP_TTFT_MS": "0",
            "FRUGAL_SIMULATED_STRONG_TTFT_MS": "0",
            "FRUGAL_SIMULATED_CHEAP_TOKENS_PER_S": "100000",
            "FRUGAL_SIMULATED_STRONG_TOKENS_PER_S": "100000",
            "FRUGAL_REDIS_URL": server.url,
            "FRUGAL_REDIS_KEY_PREFIX": prefix,
            "FRUGAL_REDIS_TIMEOUT_S": "2",
            "FRUGAL_CACHE_SEMANTIC_BACKEND": backend,
        }
    )


async def chat(base_url: str, message: str) -> dict[str, object]:
    async with aiohttp.ClientSession() as http:
        response = await http.post(f"{base_url}/chat", json={"message": message})
        body = await response.json()
        assert response.status == 200, body
        return dict(body)


async def v1(base_url: str, content: str) -> str:
    body = {"model": "auto", "temperature": 0, "messages": [{"role": "user", "content": content}]}
    async with aiohttp.ClientSession() as http:
        response = await http.post(f"{base_url}/v1/chat/completions", json=body)
        assert response.status == 200, await response.text()
        return response.headers.get("x-frugal-cache", "")


async def test_a_paraphrase_on_b_hits_the_entry_a_stored(search_server: RedisServer) -> None:
    prefix = f"g{uuid.uuid4().hex[:8]}:"
    common = settings(search_server, prefix, "auto")  # auto: the server has the Query Engine
    async with run_gateway(common) as a, run_gateway(common) as b:
        first = await chat(a.base_url, "How long does shipping to Canada take?")
        second = await chat(b.base_url, "How long does shipping to Canada usually take?")
        assert await v1(a.base_url, "What payment methods do you accept?") == "miss"
        assert await v1(b.base_url, "Which payment methods do you accept?") == "semantic"
    assert first["cache"] is None
    assert second["cache"] == "semantic" and second["answer"] == first["answer"]
    client = redis.Redis.from_url(search_server.url)
    try:
        indexes = b" ".join(await client.execute_command("FT._LIST"))
        assert prefix.encode() + b"semidxfloat16:" in indexes
        # The entries are hashes in the index, not a replication stream.
        assert not await client.exists(prefix + "sem:stream")
    finally:
        await client.aclose()


async def test_the_backend_follows_the_setting_and_the_server(
    search_server: RedisServer, redis_server: RedisServer
) -> None:
    embedder = HashingEmbedder()
    search, plain = redis.Redis.from_url(search_server.url), redis.Redis.from_url(redis_server.url)
    try:
        found = await open_vector_backend(
            settings(search_server, "pick:", "auto"), embedder, search
        )
        assert isinstance(found, RedisVectorBackend)
        assert (
            await open_vector_backend(settings(search_server, "p:", "memory"), embedder, search)
            is None
        )
        # Debian's redis 7.0 has no FT.* commands: auto stays in process, redis refuses to start.
        assert (
            await open_vector_backend(settings(redis_server, "p:", "auto"), embedder, plain) is None
        )
        with pytest.raises(RuntimeError, match="no Query Engine"):
            await open_vector_backend(settings(redis_server, "p:", "redis"), embedder, plain)
        with pytest.raises(RuntimeError, match=r"needs redis\.url"):
            await open_vector_backend(
                load_settings({"FRUGAL_CACHE_SEMANTIC_BACKEND": "redis"}), embedder, None
            )
    finally:
        await search.aclose()
        await plain.aclose()
