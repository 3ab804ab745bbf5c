"""Exact-cache hit throughput and latency through ``POST /chat`` and ``/v1/chat/completions``.

One `frugal serve` process (stock settings: exact and semantic caches on) against the simulator
at 0 ms. Every question is asked once on each endpoint to fill the exact cache, then probed
once more: only the questions that come back as exact hits are used (answers classed realtime
are never cached). Rounds then alternate the two endpoints (and which goes first) at the given
concurrency; CPU per request is the gateway's user+system time (``/proc/<pid>/stat``) and, as
"client CPU", the timed load generator's own (this process, `bench.lean_http`: one keep-alive
connection per worker, httptools parsing), which shares the machine. The warm-up that reads
each answer's cache layer uses aiohttp.

Run one: ``python -m bench.bench_hits [--rounds N] [--round-s S] [--concurrency 32]``.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence
from functools import partial

import aiohttp
import anyio
import msgspec

from bench.gateway_process import (
    CACHE_HEADER,
    JSON_HEADERS,
    RoundTotals,
    Server,
    chat_body,
    completion_body,
    cpu_seconds,
    gateway,
    http_session,
    machine_load,
    pct,
    questions,
    simulator,
)
from bench.lean_http import lean_closed_loop

ROUNDS = 5
ROUND_S = 3.0
WARMUP_S = 1.0
CONCURRENCY = (32,)
QUESTIONS = 256
ENDPOINTS = ("/chat", "/v1/chat/completions")
TARGET_RATE = 2500.0
TARGET_P99_MS = 10.0


class _ChatCache(msgspec.Struct):
    cache: str | None


async def _ask(session: aiohttp.ClientSession, url: str, body: bytes) -> str | None:
    """Post once; return the cache layer that answered (None for a miss)."""
    async with session.post(url, data=body, headers=JSON_HEADERS) as response:
        raw = await response.read()
        response.raise_for_status()
        if url.endswith("/chat"):
            return msgspec.json.decode(raw, type=_ChatCache).cache
        layer = response.headers.get(CACHE_HEADER, "miss")
        return None if layer == "miss" else layer


async def _layers(
    session: aiohttp.ClientSession, url: str, bodies: Sequence[bytes]
) -> list[str | None]:
    """Post every body once (8 at a time); the cache layer that answered each."""
    limiter = anyio.CapacityLimiter(8)
    layers: list[str | None] = [None] * len(bodies)

    async def ask(i: int) -> None:
        async with limiter:
            layers[i] = await _ask(session, url, bodies[i])

    async with anyio.create_task_group() as group:
        for i in range(len(bodies)):
            group.start_soon(ask, i)
    return layers


async def _warm(gw: Server) -> dict[str, list[bytes]]:
    """Fill the cache; the bodies per endpoint that are now answered by the exact cache."""
    make = {"/chat": chat_body, "/v1/chat/completions": completion_body}
    hits: dict[str, list[bytes]] = {}
    async with http_session(8) as session:
        for endpoint in ENDPOINTS:
            url = f"{gw.url}{endpoint}"
            bodies = [make[endpoint](q) for q in questions(QUESTIONS)]
            await _layers(session, url, bodies)  # fill
            layers = await _layers(session, url, bodies)  # probe
            hits[endpoint] = [
                b for b, layer in zip(bodies, layers, strict=True) if layer == "exact"
            ]
            if not hits[endpoint]:
                raise RuntimeError(f"no exact hits on {endpoint} after warming")
    return hits


async def _measure(
    gw: Server, *, rounds: int, round_s: float, concurrency: Sequence[int]
) -> tuple[dict[str, int], dict[tuple[int, str], RoundTotals]]:
    hits = await _warm(gw)
    totals = {(c, e): RoundTotals() for c in concurrency for e in ENDPOINTS}
    for c in concurrency:
        for endpoint in ENDPOINTS:
            await lean_closed_loop(
                f"{gw.url}{endpoint}", hits[endpoint],
                headers=JSON_HEADERS, concurrency=c, duration_s=WARMUP_S,
            )  # fmt: skip
        for r in range(rounds):
            for endpoint in ENDPOINTS if r % 2 == 0 else ENDPOINTS[::-1]:
                cpu_before, client_before = cpu_seconds(gw.pid), time.process_time()
                sample = await lean_closed_loop(
                    f"{gw.url}{endpoint}", hits[endpoint],
                    headers=JSON_HEADERS, concurrency=c, duration_s=round_s,
                )  # fmt: skip
                total = totals[(c, endpoint)]
                total.add(
                    sample,
                    cpu_s=cpu_seconds(gw.pid) - cpu_before,
                    client_cpu_s=time.process_time() - client_before,
                )
    return {e: len(b) for e, b in hits.items()}, totals


def _report(
    distinct: dict[str, int], totals: dict[tuple[int, str], RoundTotals], concurrency: Sequence[int]
) -> None:
    print(f"{'c':>3} {'endpoint':<22}{'keys':>6}{'req/s':>9}{'p50 ms':>9}{'p99 ms':>9}"
          f"{'CPU ms/req':>12}{'client CPU':>12}{'requests':>10}{'errors':>8}")  # fmt: skip
    for c in concurrency:
        for endpoint in ENDPOINTS:
            t = totals[(c, endpoint)]
            print(
                f"{c:>3} {endpoint:<22}{distinct[endpoint]:>6}{t.rate:>9.0f}"
                f"{pct(t.latencies_ms, 0.5):>9.2f}{pct(t.latencies_ms, 0.99):>9.2f}"
                f"{t.per_request_ms(t.cpu_s):>12.3f}{t.per_request_ms(t.client_cpu_s):>12.3f}"
                f"{len(t.latencies_ms):>10}{t.errors:>8}"
            )
        chat, v1 = totals[(c, ENDPOINTS[0])], totals[(c, ENDPOINTS[1])]
        ratio = v1.rate / chat.rate if chat.rate else 0.0
        print(f"{c:>3} /v1 vs /chat throughput: {ratio:.2f}x")
    for c in concurrency:
        if c != 32:
            continue
        for endpoint in ENDPOINTS:
            t = totals[(c, endpoint)]
            p99 = pct(t.latencies_ms, 0.99)
            met = t.rate >= TARGET_RATE and p99 <= TARGET_P99_MS
            verdict = "met" if met else "MISSED"
            print(f"target c=32 {endpoint} >= {TARGET_RATE:.0f} req/s, p99 <= {TARGET_P99_MS:g} "
                  f"ms: {verdict} ({t.rate:.0f} req/s, p99 {p99:.2f} ms)")  # fmt: skip


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="bench_hits", description=__doc__)
    parser.add_argument("--rounds", type=int, default=ROUNDS, help="rounds per endpoint")
    parser.add_argument("--round-s", type=float, default=ROUND_S, help="seconds per round")
    parser.add_argument("--concurrency", type=int, nargs="+", default=list(CONCURRENCY))
    args = parser.parse_args([] if argv is None else argv)
    load = machine_load()
    started = time.perf_counter()
    with simulator() as sim, gateway(sim.url) as gw:
        measure = partial(
            _measure, gw, rounds=args.rounds, round_s=args.round_s, concurrency=args.concurrency
        )
        distinct, totals = anyio.run(measure, backend_options={"use_uvloop": True})
    print(
        f"exact-cache hits, one gateway process (stock settings), simulator at 0 ms; "
        f"{args.rounds} interleaved rounds x {args.round_s:g} s per endpoint "
        f"({time.perf_counter() - started:.0f} s with warm-up)"
    )
    print(f"machine: {load} before the run")
    _report(distinct, totals, args.concurrency)


if __name__ == "__main__":
    main(sys.argv[1:])
