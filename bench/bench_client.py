"""OpenAIClient round trips per second versus a bare aiohttp request, same simulator, one run.

The simulator runs at 0 ms latency in its own process; both loops send the same chat request
(non-streamed) with one connection pool, interleaved in rounds so machine noise hits both.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Awaitable, Callable

import anyio
import msgspec

from agent.http import create_http_session
from agent.openai_client import OpenAIClient
from agent.types import LLMRequest, Message
from bench.upstream_process import upstream_simulator

ROUNDS = 5
REQUESTS_PER_ROUND = 400
CONCURRENCY = (1, 16)
QUESTION = "How do I reset my password?"


async def _loop(call: Callable[[], Awaitable[object]], total: int, concurrency: int) -> float:
    remaining = total

    async def worker() -> None:
        nonlocal remaining
        while remaining > 0:
            remaining -= 1
            await call()

    started = time.perf_counter()
    async with anyio.create_task_group() as group:
        for _ in range(concurrency):
            group.start_soon(worker)
    return total / (time.perf_counter() - started)


async def _run(base_url: str) -> list[tuple[int, float, float]]:
    payload = msgspec.json.encode(
        {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": QUESTION}]}
    )
    headers = {"authorization": "Bearer bench", "content-type": "application/json"}
    request = LLMRequest(model="gpt-4o-mini", messages=(Message("user", QUESTION),))
    rows = []
    async with create_http_session(pool_size=64, connect_timeout_s=5) as session:
        client = OpenAIClient(session, base_url=f"{base_url}/v1", api_key="bench")

        async def bare() -> object:
            async with session.post(
                f"{base_url}/v1/chat/completions", data=payload, headers=headers
            ) as response:
                response.raise_for_status()
                return msgspec.json.decode(await response.read())

        async def via_client() -> object:
            return await client.generate(request)

        await _loop(bare, 50, 4)  # warm up both paths and the pool
        await _loop(via_client, 50, 4)
        for concurrency in CONCURRENCY:
            bare_rates, client_rates = [], []
            for _ in range(ROUNDS):
                bare_rates.append(await _loop(bare, REQUESTS_PER_ROUND, concurrency))
                client_rates.append(await _loop(via_client, REQUESTS_PER_ROUND, concurrency))
            rows.append(
                (concurrency, statistics.median(bare_rates), statistics.median(client_rates))
            )
    return rows


def main() -> None:
    with upstream_simulator() as base_url:
        rows = anyio.run(_run, base_url, backend_options={"use_uvloop": True})
    print("OpenAIClient vs bare aiohttp, non-streamed chat, simulator at 0 ms (median of rounds)")
    print(f"{'concurrency':>11} {'bare req/s':>11} {'client req/s':>13} {'client/bare':>12}")
    for concurrency, bare, client in rows:
        print(f"{concurrency:>11} {bare:>11.0f} {client:>13.0f} {client / bare:>12.2f}")


if __name__ == "__main__":
    main()
