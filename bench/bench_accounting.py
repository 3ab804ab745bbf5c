"""Does the money add up? ~1,000 mixed requests, then `/stats` against the responses' sum.

The upstream simulator runs in its own process speaking both wire formats (cheap tier on the
OpenAI wire, strong tier on the Anthropic wire, so all four token buckets occur); `frugal
serve` runs in another. Requests mix the three endpoints (`/chat`, `/chat/stream`,
`/v1/chat/completions` whole and streamed), repeats, paraphrases and technical questions, 16
at a time. The per-response ``cost_usd_micros`` are summed and compared with `/stats`; any
difference is printed as an error and fails the run.
"""

from __future__ import annotations

import os
import random
import sys
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import aiohttp
import anyio
import msgspec

from bench.upstream_process import free_port, frugal_command, listening_process
from bench.upstream_process import upstream_simulator as start_simulator

REQUESTS = 1_000
CONCURRENCY = 16
SEED = 11
CALIBRATION = Path(__file__).resolve().parent.parent / "cache" / "data" / "calibration_pairs.jsonl"
TECHNICAL = (
    "I get an error 500 when I call the API, how do I debug it?",
    "How do I deploy the webhook integration to production?",
    "Permission denied exception when the code reads the config file",
)


class _Pair(msgspec.Struct):
    a: str
    b: str
    same: bool


@contextmanager
def gateway(upstream_url: str) -> Iterator[str]:
    port = free_port()
    env = {
        **os.environ,
        "OPENAI_BASE_URL": f"{upstream_url}/v1",
        "OPENAI_API_KEY": "bench",
        "ANTHROPIC_BASE_URL": upstream_url,
        "ANTHROPIC_API_KEY": "bench",
        "FRUGAL_MODELS_STRONG": "claude-sonnet-4-6",
        "FRUGAL_SERVER_LOG_LEVEL": "warning",
    }
    command = frugal_command("serve", "--host", "127.0.0.1", "--port", str(port))
    with listening_process(command, port, env=env, start_s=60):
        yield f"http://127.0.0.1:{port}"


def questions(rng: random.Random) -> list[str]:
    lines = CALIBRATION.read_text(encoding="utf-8").splitlines()
    pairs = [msgspec.json.decode(line, type=_Pair) for line in lines if line.strip()]
    pool = [p.a for p in pairs] + [p.b for p in pairs if p.same]
    chosen: list[str] = []
    for index in range(REQUESTS):
        draw = rng.random()
        if chosen and draw < 0.35:
            chosen.append(rng.choice(chosen))  # an exact repeat
        elif draw < 0.5:  # technical: routed to the strong model (Anthropic wire)
            chosen.append(f"{rng.choice(TECHNICAL)} (case {index})")
        elif draw < 0.65:
            chosen.append(f"{index}: {rng.choice(pool)}")  # unique
        else:
            chosen.append(rng.choice(pool))  # maybe a paraphrase of an earlier one
    return chosen


async def ask(http: aiohttp.ClientSession, base: str, kind: str, question: str) -> int:
    """Send one request; return the cost it reports."""
    if kind == "chat":
        async with http.post(f"{base}/chat", json={"message": question}) as response:
            body: dict[str, Any] = await response.json()
            response.raise_for_status()
            return int(body["cost_usd_micros"])
    if kind == "stream":
        async with http.get(f"{base}/chat/stream", params={"message": question}) as response:
            response.raise_for_status()
            event, cost = "", None
            async for raw in response.content:
                line = raw.decode().rstrip("\n")
                if line.startswith("event:"):
                    event = line[6:].strip()
                elif line.startswith("data:") and event == "done":
                    cost = int(msgspec.json.decode(line[5:])["cost_usd_micros"])
                elif line.startswith("data:") and event == "error":
                    raise RuntimeError(line)
            assert cost is not None, "stream ended without done"
            return cost
    body = {
        "model": "auto",
        "messages": [{"role": "user", "content": question}],
        "stream": kind == "openai_stream",
    }
    if kind == "openai_stream":
        body["stream_options"] = {"include_usage": True}
    async with http.post(f"{base}/v1/chat/completions", json=body) as response:
        response.raise_for_status()
        if kind == "openai":
            return int((await response.json())["frugal"]["cost_usd_micros"])
        cost = None
        async for raw in response.content:
            line = raw.decode().strip()
            if line.startswith("data: {"):
                chunk = msgspec.json.decode(line[6:])
                if "frugal" in chunk:
                    cost = int(chunk["frugal"]["cost_usd_micros"])
        assert cost is not None, "stream ended without the frugal accounting chunk"
        return cost


async def run(base: str) -> tuple[int, Counter[str], dict[str, Any], dict[str, Any]]:
    rng = random.Random(SEED)
    work = [(rng.choice(("chat", "stream", "openai", "openai_stream")), q) for q in questions(rng)]
    kinds: Counter[str] = Counter(kind for kind, _ in work)
    total = 0
    limiter = anyio.CapacityLimiter(CONCURRENCY)
    async with aiohttp.ClientSession() as http:
        before = await (await http.get(f"{base}/stats")).json()

        async def one(kind: str, question: str) -> None:
            nonlocal total
            async with limiter:
                cost = await ask(http, base, kind, question)
            total += cost  # not `total += await ...`: that reads total before awaiting

        async with anyio.create_task_group() as group:
            for kind, question in work:
                group.start_soon(one, kind, question)
        after = await (await http.get(f"{base}/stats")).json()
    return total, kinds, before, after


def main() -> None:
    with (
        start_simulator(["--ttft-ms", "0", "--tokens-per-s", "0"]) as upstream,
        gateway(upstream) as base,
    ):
        total, kinds, before, after = anyio.run(run, base)
    calls = after["calls"] - before["calls"]
    stats_cost = after["cost_usd_micros"] - before["cost_usd_micros"]
    print(f"requests: {REQUESTS} ({', '.join(f'{k} {n}' for k, n in sorted(kinds.items()))})")
    print(f"/stats calls: {calls}")
    print(f"sum of per-response cost_usd_micros: {total:,}")
    print(f"/stats cost_usd_micros:              {stats_cost:,}")
    tokens = after["tokens"]
    print(
        f"tokens: input {tokens['input']:,} (cached {tokens['cached_input']:,}, cache write "
        f"{tokens['cache_write']:,}), output {tokens['output']:,}"
    )
    print(
        f"cache: exact {after['cache']['exact_hits']}, semantic {after['cache']['semantic_hits']}"
        f", routes {after['routes']}, saved {after['saved_usd_micros']:,} micro-USD"
    )
    if calls != REQUESTS or stats_cost != total:
        print("ERROR: /stats does not match the responses", file=sys.stderr)
        raise SystemExit(1)
    print("OK: /stats equals the sum of the responses to the micro-dollar")
