"""Every multi-key Redis operation the gateway runs stays within one hash slot, so it works on
Redis Cluster. A real gateway serves a workload touching every Redis user (exact and semantic
cache with tags, conversation history, stored responses, budgets, rate limits, cost totals,
the batch lane, admin invalidation) while ``MONITOR`` records what reaches Redis; each
transaction, script and multi-key command is then checked with redis-py's key slot function.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import anyio.to_thread
import pytest
import redis
from openai import OpenAI

from server.config import load_settings
from simulator import SimConfig
from tests.support.batch import chat_line, submit, wait_done
from tests.support.cost_http import ADMIN_KEY, bearer
from tests.support.gateway import run_gateway
from tests.support.redis_monitor import Operation, monitoring
from tests.support.redis_server import start_redis_server
from tests.support.simulator import RunningSimulator, run_simulator

pytestmark = pytest.mark.anyio

KEY = "acme-slots-key-0123456789abcdef"


@pytest.fixture
async def batch_sim() -> AsyncIterator[RunningSimulator]:
    async with run_simulator(SimConfig(batch_delay_s=0.1)) as running:
        yield running


async def _post(http: aiohttp.ClientSession, url: str, body: dict[str, Any], key: str) -> Any:
    async with http.post(url, json=body, headers=bearer(key)) as response:
        assert response.status == 200, await response.text()
        return await response.read()


def _describe(operations: list[Operation]) -> str:
    return "\n".join(
        f"{op.name} {sorted(op.slots)}: "
        + ", ".join(k.decode(errors="replace") for k in dict.fromkeys(op.keys))
        for op in operations
    )


@pytest.mark.slow
async def test_every_multi_key_operation_stays_in_one_slot(
    batch_sim: RunningSimulator, tmp_path: Path
) -> None:
    with start_redis_server() as server:
        settings = load_settings(
            {
                "OPENAI_BASE_URL": f"{batch_sim.base_url}/v1",
                "OPENAI_API_KEY": "k",
                "FRUGAL_REDIS_URL": server.url,
                "FRUGAL_REDIS_TIMEOUT_S": "2",
                "FRUGAL_AUTH_API_KEYS": f"acme:{KEY}",
                "FRUGAL_SERVER_ADMIN_KEY": ADMIN_KEY,
                "FRUGAL_BUDGET_GLOBAL_DAILY_USD_MICROS": "100000000",
                "FRUGAL_BUDGET_TENANT_HOURLY_USD_MICROS": "10000000",
                "FRUGAL_LIMITS_REQUESTS_PER_WINDOW": "1000",
                "FRUGAL_LIMITS_TOKENS_PER_WINDOW": "1000000",
                "FRUGAL_BATCH_FILES_DIR": str(tmp_path / "files"),
                "FRUGAL_BATCH_TICK_S": "0.05",
                "FRUGAL_BATCH_POLL_INITIAL_S": "0.05",
                "FRUGAL_BATCH_POLL_MAX_S": "0.2",
            }
        )
        with monitoring(server.host, server.port) as recording:
            async with run_gateway(settings) as gateway, aiohttp.ClientSession() as http:
                base = gateway.base_url
                completions = f"{base}/v1/chat/completions"
                question = {"role": "user", "content": "How do I reset my password?"}
                body = {"model": "gpt-4o-mini", "messages": [question], "temperature": 0}
                await _post(http, completions, body, KEY)  # miss: exact + semantic write
                await _post(http, completions, body, KEY)  # exact hit
                await _post(http, completions, {**body, "stream": True}, KEY)
                chat = {"message": "What is your refund policy?", "session_id": "s-1"}
                await _post(http, f"{base}/chat", chat, KEY)
                await _post(http, f"{base}/chat", {**chat, "message": "And for gifts?"}, KEY)
                responses = {"model": "gpt-4o-mini", "input": "hello", "store": True}
                stored = await _post(http, f"{base}/v1/responses", responses, KEY)
                assert stored
                invalidate = f"{base}/admin/cache/invalidate"
                # The /chat answers above cite these documents: their tag sets have members.
                removed = [
                    json.loads(await _post(http, invalidate, {"doc_id": doc}, ADMIN_KEY))
                    for doc in ("kb-returns-001", "kb-orders-003")
                ]
                assert sum(r["exact_removed"] for r in removed) >= 1, removed
                async with http.get(f"{base}/stats", headers=bearer(ADMIN_KEY)) as response:
                    assert response.status == 200
                lines = [chat_line("a", "batch question one"), chat_line("b", "batch two")]

                def batch() -> Any:
                    with OpenAI(base_url=f"{base}/v1", api_key=KEY, max_retries=0) as client:
                        return wait_done(client, submit(client, lines).id)

                done = await anyio.to_thread.run_sync(batch)
                assert done.status == "completed"
        with redis.Redis(host=server.host, port=server.port) as client:
            operations = recording.operations(client)
    assert operations, "the workload ran no multi-key operation: the recording is broken"
    crossing = [op for op in operations if len(op.slots) > 1]
    assert not crossing, _describe(crossing)
