"""Gateways in front of one upstream simulator, each with its own ``[security]`` policy and
its own Redis key prefix (so a test can read every byte the gateway stored)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import aiohttp
import pytest
import redis.asyncio as redis

from server.config import load_settings
from tests.support.gateway import RunningGateway, run_gateway
from tests.support.redis_server import RedisServer
from tests.support.simulator import RunningSimulator, run_simulator

GUARDED = {
    "FRUGAL_SECURITY_REDACT_INPUT": "true",
    "FRUGAL_SECURITY_REVERSIBLE": "true",
    "FRUGAL_SECURITY_REDACT_OUTPUT": "true",
    "FRUGAL_SECURITY_INJECTION": "flag",
    "FRUGAL_SECURITY_PHONE_REGIONS": "US,CN",
}
BLOCKING = {
    "FRUGAL_SECURITY_REDACT_OUTPUT": "true",
    "FRUGAL_SECURITY_INJECTION": "block",
}


@dataclass
class Guarded:
    sim: RunningSimulator
    gateway: RunningGateway
    redis_url: str
    prefix: str

    @property
    def url(self) -> str:
        return self.gateway.base_url

    def received(self, path: str = "/v1/chat/completions") -> list[bytes]:
        """Every body the simulator received on ``path``, oldest first."""
        return [r.raw for r in self.sim.state.received() if r.path == path]

    async def stored(self) -> bytes:
        """Every value the gateway keeps in Redis under its prefix, concatenated."""
        client = redis.from_url(self.redis_url)
        out: list[bytes] = []
        try:
            async for key in client.scan_iter(match=f"{self.prefix}*"):
                out.append(key)
                out.extend(await _values(client, key))
        finally:
            await client.aclose()
        return b"\n".join(out)


async def _values(client: Any, key: bytes) -> list[bytes]:
    kind = (await client.type(key)).decode()
    if kind == "string":
        return [await client.get(key) or b""]
    if kind == "hash":
        return [b"%s=%s" % kv for kv in (await client.hgetall(key)).items()]
    if kind == "list":
        return list(await client.lrange(key, 0, -1))
    if kind == "set":
        return list(await client.smembers(key))
    if kind == "zset":
        return list(await client.zrange(key, 0, -1))
    if kind == "stream":
        return [repr(entry).encode() for entry in await client.xrange(key)]
    return []


@pytest.fixture(scope="module")
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(scope="module")
async def sim() -> AsyncIterator[RunningSimulator]:
    async with run_simulator() as running:
        yield running


async def _gateway(
    sim: RunningSimulator, redis_server: RedisServer, prefix: str, extra: dict[str, str]
) -> AsyncIterator[Guarded]:
    env = {
        "OPENAI_BASE_URL": f"{sim.base_url}/v1",
        "OPENAI_API_KEY": "k",
        "ANTHROPIC_BASE_URL": sim.base_url,
        "ANTHROPIC_API_KEY": "k",
        "REDIS_URL": redis_server.url,
        "FRUGAL_REDIS_KEY_PREFIX": prefix,
        **extra,
    }
    async with run_gateway(load_settings(env)) as gateway:
        yield Guarded(sim, gateway, redis_server.url, prefix)


@pytest.fixture(scope="module")
async def guarded(sim: RunningSimulator, redis_server: RedisServer) -> AsyncIterator[Guarded]:
    """Input redaction (reversible), output redaction and injection flags."""
    async for running in _gateway(sim, redis_server, "sec-guarded:", GUARDED):
        yield running


@pytest.fixture(scope="module")
async def blocking(sim: RunningSimulator, redis_server: RedisServer) -> AsyncIterator[Guarded]:
    """Output redaction only, and injection blocks."""
    async for running in _gateway(sim, redis_server, "sec-blocking:", BLOCKING):
        yield running


@pytest.fixture(scope="module")
async def plain(sim: RunningSimulator, redis_server: RedisServer) -> AsyncIterator[Guarded]:
    """No security settings: the default."""
    async for running in _gateway(sim, redis_server, "sec-plain:", {}):
        yield running


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session
