"""`POST /chat` latency of a cache miss vs an exact hit vs a semantic hit, in one run.

The upstream simulator runs in its own process at a realistic pace (300 ms to the first
token, 80 tokens/s); the gateway runs as `frugal serve` in another, pointed at it through the
OpenAI wire. For each pair of paraphrases from the calibration set, the first question is
asked twice (miss, then exact hit) and then its paraphrase (semantic hit). Latency is what the
HTTP client observes, one request at a time.
"""

from __future__ import annotations

import os
import statistics
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import anyio
import msgspec

from agent.http import create_http_session
from bench.upstream_process import (
    free_port,
    frugal_command,
    listening_process,
    upstream_simulator,
)

TTFT_MS = 300
TOKENS_PER_S = 80
PAIRS = 20
CALIBRATION = Path(__file__).resolve().parent.parent / "cache" / "data" / "calibration_pairs.jsonl"


class _Pair(msgspec.Struct):
    a: str
    b: str
    same: bool


class _Answer(msgspec.Struct):
    cache: str | None
    cost_usd_micros: int
    latency_ms: dict[str, float]


@contextmanager
def gateway(upstream_url: str) -> Iterator[str]:
    """Run `frugal serve` against the simulator; yield its base URL."""
    port = free_port()
    env = {
        **os.environ,
        "OPENAI_BASE_URL": f"{upstream_url}/v1",
        "OPENAI_API_KEY": "bench",
        "FRUGAL_SERVER_LOG_LEVEL": "warning",
    }
    command = frugal_command("serve", "--host", "127.0.0.1", "--port", str(port))
    with listening_process(command, port, env=env, start_s=60):
        yield f"http://127.0.0.1:{port}"


def _pairs() -> list[_Pair]:
    decoder = msgspec.json.Decoder(_Pair)
    lines = CALIBRATION.read_text(encoding="utf-8").splitlines()
    pairs = [decoder.decode(line) for line in lines if line.strip()]
    return [p for p in pairs if p.same][:PAIRS]


async def _measure(base_url: str) -> dict[str, list[tuple[float, _Answer]]]:
    decoder = msgspec.json.Decoder(_Answer)
    rows: dict[str, list[tuple[float, _Answer]]] = {"miss": [], "exact": [], "semantic": []}
    async with create_http_session(pool_size=4, connect_timeout_s=5) as session:

        async def ask(question: str) -> tuple[float, _Answer]:
            started = time.perf_counter()
            async with session.post(f"{base_url}/chat", json={"message": question}) as response:
                body = await response.read()
                response.raise_for_status()
            return (time.perf_counter() - started) * 1000, decoder.decode(body)

        await ask("warm-up: hello")  # first request pays lazy imports and connection setup
        for pair in _pairs():
            first = await ask(pair.a)
            if first[1].cache is not None:
                continue  # an earlier paraphrase already covered it
            rows["miss"].append(first)
            rows["exact"].append(await ask(pair.a))
            paraphrase = await ask(pair.b)
            if paraphrase[1].cache == "semantic":
                rows["semantic"].append(paraphrase)
    return rows


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def main() -> None:
    args = ["--ttft-ms", str(TTFT_MS), "--tokens-per-s", str(TOKENS_PER_S)]
    with upstream_simulator(args) as upstream, gateway(upstream) as base_url:
        rows = anyio.run(_measure, base_url, backend_options={"use_uvloop": True})
    print(f"simulator: {TTFT_MS} ms to first token, {TOKENS_PER_S} tokens/s; client-observed ms")
    print(f"{'layer':<10}{'n':>4}{'p50':>10}{'p95':>10}{'server p50':>12}{'cost µUSD':>11}")
    medians: dict[str, float] = {}
    for layer, found in rows.items():
        if not found:
            print(f"{layer:<10}{0:>4}")
            continue
        client_ms = [ms for ms, _ in found]
        server_ms = [answer.latency_ms.get("total", 0.0) for _, answer in found]
        cost = sum(answer.cost_usd_micros for _, answer in found)
        medians[layer] = statistics.median(client_ms)
        print(
            f"{layer:<10}{len(found):>4}{medians[layer]:>10.2f}{_pct(client_ms, 0.95):>10.2f}"
            f"{statistics.median(server_ms):>12.2f}{cost:>11}"
        )
    for layer in ("exact", "semantic"):
        if layer in medians and "miss" in medians:
            ratio = medians["miss"] / medians[layer]
            print(f"{layer} hit is {ratio:.0f}x faster than a miss (p50)")
