"""``python -m bench.cluster.sizing``: what one request costs Redis, measured on a real
redis-server behind a real `frugal serve` (auth, a budget, rate limits and both cache layers
on): keys and bytes per cached answer (``MEMORY USAGE``), keys and commands per request
(``INFO commandstats``), for fresh answers and for exact-cache hits. Prints a Markdown table
(README "Sizing")."""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections import Counter
from collections.abc import Sequence
from typing import Any, cast

import aiohttp
import redis

from bench.gateway_process import gateway, simulator
from bench.redis_process import start_redis_server

KEY = "sizing-key-0123456789abcdef0123"
_SETTINGS = {
    "FRUGAL_AUTH_API_KEYS": f"acme:{KEY}",
    "FRUGAL_BUDGET_GLOBAL_DAILY_USD_MICROS": "100000000000",
    "FRUGAL_BUDGET_TENANT_DAILY_USD_MICROS": "100000000000",
    "FRUGAL_LIMITS_REQUESTS_PER_WINDOW": "1000000",
    "FRUGAL_LIMITS_TOKENS_PER_WINDOW": "1000000000",
}


def _commands(client: redis.Redis) -> Counter[str]:
    """Calls per command so far (commands run inside Lua scripts included), without this
    script's own INFO/PING/SCAN/MEMORY/DBSIZE."""
    stats = _info(client, "commandstats")
    calls = Counter({k.removeprefix("cmdstat_"): int(v["calls"]) for k, v in stats.items()})
    for own in ("info", "ping", "scan", "memory|usage", "dbsize"):
        calls.pop(own, None)
    return calls


def _info(client: redis.Redis, section: str) -> dict[str, Any]:
    # The sync client's replies are typed "awaitable or not" (shared with the async client).
    return cast(dict[str, Any], client.info(section))


def _dbsize(client: redis.Redis) -> int:
    return int(cast(Any, client.dbsize()))


def _key_kinds(client: redis.Redis) -> Counter[str]:
    """Keys by kind: the part of the name after the namespace, up to the next colon."""
    return Counter(k.decode().split(":")[1] for k in client.scan_iter(count=1000))


def _mean_memory(client: redis.Redis, pattern: str) -> tuple[int, float]:
    keys = list(client.scan_iter(match=pattern, count=1000))
    sizes = [int(cast(Any, client.memory_usage(k)) or 0) for k in keys]
    return len(keys), (sum(sizes) / len(sizes) if sizes else 0.0)


async def _send(base: str, questions: Sequence[str], concurrency: int = 8) -> None:
    headers = {"authorization": f"Bearer {KEY}"}
    queue = iter(questions)
    async with aiohttp.ClientSession() as http:

        async def worker() -> None:
            for question in queue:
                body = {
                    "model": "gpt-4o-mini",
                    "temperature": 0,
                    "messages": [{"role": "user", "content": question}],
                }
                async with http.post(
                    f"{base}/v1/chat/completions", json=body, headers=headers
                ) as response:
                    await response.read()
                    if response.status != 200:
                        raise RuntimeError(f"{response.status}: {await response.text()}")

        await asyncio.gather(*(worker() for _ in range(concurrency)))


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.cluster.sizing", description=__doc__)
    parser.add_argument("--requests", type=int, default=500)
    parser.add_argument("--output-tokens", type=int, default=200)
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    n = args.requests
    questions = [f"Order c{i:06d}: how do I change the delivery address?" for i in range(n)]
    sim_args = ["--output-tokens", str(args.output_tokens)]
    with start_redis_server() as server, simulator(sim_args) as sim:
        client = redis.Redis(host=server.host, port=server.port)
        with gateway(sim.url, {**_SETTINGS, "REDIS_URL": server.url}) as gw:
            asyncio.run(_send(gw.url, questions[:8]))  # warm-up: first keys of every kind
            keys0, commands0 = _dbsize(client), _commands(client)
            memory0 = int(_info(client, "memory")["used_memory"])
            asyncio.run(_send(gw.url, questions))
            keys1, commands1 = _dbsize(client), _commands(client)
            kinds = _key_kinds(client)
            memory1 = int(_info(client, "memory")["used_memory"])
            asyncio.run(_send(gw.url, questions))  # the same again: exact-cache hits
            commands2 = _commands(client)
            exact = _mean_memory(client, "frugal:prompt:*")
            semantic = _mean_memory(client, "frugal:sem:*")
        client.close()
    fresh, hits = commands1 - commands0, commands2 - commands1
    rows = [
        ("new keys per fresh answer", f"{(keys1 - keys0) / n:.2f}"),
        ("keys by kind", ", ".join(f"{k}: {c}" for k, c in kinds.most_common())),
        ("Redis commands per fresh answer", f"{fresh.total() / n:.1f} ({_top(fresh, n)})"),
        ("Redis commands per exact-cache hit", f"{hits.total() / n:.1f} ({_top(hits, n)})"),
        ("used_memory growth per fresh answer", f"{(memory1 - memory0) / n:,.0f} B"),
        ("exact-cache entry (MEMORY USAGE, mean)", f"{exact[1]:,.0f} B ({exact[0]} keys)"),
        ("semantic entry (MEMORY USAGE, mean)", f"{semantic[1]:,.0f} B ({semantic[0]} keys)"),
    ]
    print(f"{n} distinct requests, {args.output_tokens}-token answers\n")
    print("| measure | value |\n| --- | --- |")
    for name, value in rows:
        print(f"| {name} | {value} |")
    return 0


def _top(calls: Counter[str], n: int) -> str:
    return ", ".join(f"{name} {count / n:.1f}" for name, count in calls.most_common(8))


if __name__ == "__main__":
    sys.exit(main())
