"""Semantic-cache backends side by side, and what a cache miss costs end to end.

Part 1, the vector backends at 10k, 100k and 1M entries (``--quick``: not 1M; filling Redis's
HNSW index with 1M entries takes ~18 minutes): the in-process index
(`cache.semantic_backend.MemoryBackend`, the embedded default; "numpy": the same index with its
stage-1 passes in numpy instead of the C kernels of `cache.hamming`) and Redis's vector index
(`cache.semantic_redis.RedisVectorBackend`: HNSW, COSINE, FLOAT16, its default) on a throwaway
Valkey 8.1 with the RediSearch module (`bench.search_process`). Both are called as a lookup
calls them (``search(vector, partition, k=4)``, the Redis one over a loopback round trip) but
without the floor a lookup passes (its threshold), which only lets the in-process index skip
work, on the synthetic sentence-embedding-like corpus of `bench.bench_semantic_index` (384
dims). "r@1" is how often the top hit is brute-force float32's, over queries whose best cosine
is >= 0.85; "~best" how often the top hit scores within 0.005 of the best (a near-duplicate of
the best row serves the same answer); ">=.92" how often, when some stored row scores at least
the default threshold, the top hit does too (the cache then has a candidate to judge). The Redis
index is searched twice: with its EF_RUNTIME (64) and with a beam of 200 (``ef 200``).
Memory: the in-process index's arrays (``nbytes``) and the process RSS growth while filling;
for Redis, ``used_memory`` growth (hashes + index) and FT.INFO's vector index size.

Part 2, a default-config cache miss end to end: ``frugal serve`` with stock settings (semantic
layer on, in-process index, int8 embedder in its helper process) next to one with
``FRUGAL_CACHE_SEMANTIC_ENABLED=false``, one with the forward passes in the gateway's threads
(``FRUGAL_EMBEDDER_HELPER_PROCESS=false``) and one with the float32 numpy embedder
(``FRUGAL_EMBEDDER_RUNTIME=float32``), all on an instant simulated upstream, in the same run.
Every request is a question never asked before (so exact and semantic both miss, and each miss
embeds, searches and stores: lookup + store), ``POST /v1/chat/completions``, closed loop at c=1
and c=32, rounds alternating between the gateways. CPU counts each gateway's process and its
helper. Only responses whose ``x-frugal-cache`` says ``miss`` count.

``python -m bench.bench_semantic_backends [--quick] [--sizes 10000 ...] [--no-e2e] [--no-index]
[--before REF] [--memory-runs N]`` (``--before``: also a gateway checked out at REF, e.g. before
embed-once; ``--memory-runs``: only the in-process index, filled and searched N times).
"""

from __future__ import annotations

import argparse
import contextlib
import itertools
import random
import sys
import time
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

import anyio
import numpy as np
import redis.asyncio as redis

from agent.embedders.blas_threads import limit_blas_threads
from bench.baseline import baseline_tree
from bench.bench_semantic_index import DIM, PART, _Corpus
from bench.gateway_process import (
    CACHE_HEADER,
    JSON_HEADERS,
    SEMANTIC_OFF,
    Server,
    completion_body,
    cpu_seconds,
    gateway,
    http_session,
    pct,
    simulator,
)
from bench.search_process import start_search_server
from cache.semantic_backend import F32, MemoryBackend, SemanticBackend, SemanticEntry
from cache.semantic_redis import RedisVectorBackend

# The embedder before the int8 runtime became the default, as a third gateway in the same run.
FLOAT32_EMBEDDER = {"FRUGAL_EMBEDDER_RUNTIME": "float32"}
# Forward passes in the gateway's own threads, as before the helper process became the default.
IN_THREADS = {"FRUGAL_EMBEDDER_HELPER_PROCESS": "false"}
WIDE_EF = 200  # a second pass over the Redis index with a wider HNSW beam
THRESHOLD = 0.92  # the default semantic threshold
SIZES = (10_000, 100_000)
FULL_SIZES = (*SIZES, 1_000_000)
QUERIES = 400
WARM_UP = 20
BATCH = 500  # entries per Redis pipeline while filling
CONCURRENCY = (1, 32)
ROUNDS = 3
ROUND_S = 4.0


def _rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def _entries(first: int, rows: F32) -> list[tuple[SemanticEntry, F32]]:
    return [
        (SemanticEntry(f"{i:032x}", f"question {i}", b"answer", PART[0], PART[1]), row)
        for i, row in enumerate(rows, first)
    ]


async def _fill(backend: SemanticBackend, rows: F32) -> float:
    """Add every row; return entries per second."""
    began = time.perf_counter()
    for start in range(0, len(rows), BATCH):
        batch = _entries(start, rows[start : start + BATCH])
        if isinstance(backend, RedisVectorBackend):
            await backend.add_many([(e, v, PART, 3600.0) for e, v in batch])
        else:
            for entry, vector in batch:
                await backend.add(entry, vector, PART, 3600.0)
    return len(rows) / (time.perf_counter() - began)


async def _search(backend: SemanticBackend, rows: F32, queries: F32) -> str:
    truth = rows @ queries.T
    best, best_score = np.argmax(truth, axis=0), np.max(truth, axis=0)
    latencies, right, close, served = [], [], [], []
    for query in queries[:WARM_UP]:  # untimed: the first searches after a fill fault pages in
        await backend.search(query, PART, 4)
    for j, query in enumerate(queries):
        began = time.perf_counter()
        found = await backend.search(query, PART, 4)
        latencies.append((time.perf_counter() - began) * 1000)
        if best_score[j] >= 0.85:
            right.append(bool(found) and int(found[0][0].id, 16) == best[j])
            # A near-duplicate scoring within 0.005 of the best serves the same answer.
            close.append(bool(found) and found[0][1] >= best_score[j] - 0.005)
        if best_score[j] >= THRESHOLD:  # the cache could serve this one: does it get a row?
            served.append(bool(found) and found[0][1] >= THRESHOLD)
    p50, p99 = pct(latencies, 0.5), pct(latencies, 0.99)
    return (
        f"{p50:>7.2f}  {p99:>7.2f}  {np.mean(right):>6.1%}  {np.mean(close):>6.1%}"
        f"  {np.mean(served):>6.1%}"
    )


async def _memory_row(n: int, rows: F32, queries: F32, native: bool = True) -> str:
    before = _rss_mb()
    backend = MemoryBackend(DIM, n, native=native)
    rate = await _fill(backend, rows)
    grown = _rss_mb() - before
    searched = await _search(backend, rows, queries)
    arrays = backend._index.nbytes / 2**20
    return (
        f"{'memory' if native else 'numpy':>7}  {n:>9}  {searched}  {rate:>8.0f}"
        f"  arrays {arrays:.0f} MB, RSS +{grown:.0f} MB"
    )


async def _redis_row(url: str, n: int, rows: F32, queries: F32) -> str:
    client = redis.Redis.from_url(url)
    try:
        await client.flushall()
        used = int((await client.info("memory"))["used_memory"])
        backend = RedisVectorBackend(
            client, dim=DIM, embedder=PART[2], namespace=f"bench{n}:", op_timeout_s=300.0
        )
        rate = await _fill(backend, rows)
        searched = await _search(backend, rows, queries)
        grown = (int((await client.info("memory"))["used_memory"]) - used) / 2**20
        wider = RedisVectorBackend(
            client,
            dim=DIM,
            embedder=PART[2],
            namespace=f"bench{n}:",
            op_timeout_s=300.0,
            ef_runtime=WIDE_EF,
        )
        searched_wide = await _search(wider, rows, queries)
        info = await client.execute_command("FT.INFO", backend.index_name)
        fields = dict(zip(info[::2], info[1::2], strict=False))
        vector_mb = float(fields.get(b"vector_index_sz_mb", b"nan"))
        await client.flushall()
    finally:
        await client.aclose()
    return (
        f"{'redis':>7}  {n:>9}  {searched}  {rate:>8.0f}"
        f"  used_memory +{grown:.0f} MB (vector index {vector_mb:.0f} MB)\n"
        f"{'ef ' + str(WIDE_EF):>7}  {n:>9}  {searched_wide}  {'':>8}  the same index, wider beam"
    )


async def _backends(sizes: Sequence[int], memory_runs: int) -> None:
    """``memory_runs`` > 1: only the in-process index, filled and searched that many times
    (its 1M p99 moves with what else the machine does)."""
    print(
        f"{'backend':>7}  {'entries':>9}  {'k4 p50':>7}  {'k4 p99':>7}  {'r@1':>6}  {'~best':>6}"
        f"  {'>=.92':>6}"
        f"  {'adds/s':>8}  memory"
    )
    with contextlib.ExitStack() as stack:
        server = stack.enter_context(start_search_server()) if memory_runs == 1 else None
        for n in sizes:
            rng = np.random.default_rng(n)
            corpus = _Corpus(rng, max(10, n // 40))
            rows = corpus.rows(n)
            queries = corpus.queries(rows, QUERIES)
            for _ in range(memory_runs):
                print(await _memory_row(n, rows, queries), flush=True)
                print(await _memory_row(n, rows, queries, native=False), flush=True)
            if server is not None:
                print(await _redis_row(server.url, n, rows, queries), flush=True)


# -- part 2: a miss end to end ---------------------------------------------------------------

_OPENERS = ("How do I", "Can I", "Is it possible to", "What is the best way to", "Why can't I")
_ACTIONS = (
    "export", "import", "rename", "archive", "share", "print", "encrypt", "restore", "merge",
    "split", "schedule", "translate", "compress", "sync", "tag", "review", "approve", "sign",
)  # fmt: skip
_THINGS = (
    "invoices", "photos", "contracts", "playlists", "spreadsheets", "recipes", "tickets",
    "receipts", "videos", "timesheets", "maps", "reports", "calendars", "podcasts", "slides",
    "backups", "forms", "notebooks", "surveys", "drawings",
)  # fmt: skip
_PLACES = (
    "on my phone", "from the web app", "on a Chromebook", "with a team account",
    "in the desktop client", "from a shared drive", "on a tablet", "through the API",
    "while offline", "on Linux", "in dark mode", "for a client", "before the trial ends",
    "after a password change", "from an old laptop", "with two-factor login",
)  # fmt: skip


_WHEN = ("", " today", " this week", " every month", " right now", " next year", " at night")


def unique_questions(count: int, seed: int) -> list[str]:
    """``count`` different questions (shuffled combinations of five word lists)."""
    combos = list(itertools.product(_OPENERS, _ACTIONS, _THINGS, _PLACES, _WHEN))
    random.Random(seed).shuffle(combos)
    if count > len(combos):
        raise ValueError(f"at most {len(combos)} unique questions")
    return [f"{o} {a} {t} {p}{w}?" for o, a, t, p, w in combos[:count]]


class _Loop:
    """Closed loop over never-repeated bodies; counts only the responses in layer ``miss``."""

    def __init__(self, bodies: list[bytes]) -> None:
        self.bodies = bodies
        self.next = 0
        self.latencies: list[float] = []
        self.layers: Counter[str] = Counter()
        self.elapsed = 0.0
        self.cpu = 0.0

    async def run(self, gw: Server, concurrency: int, duration_s: float, count: bool) -> None:
        url = f"{gw.url}/v1/chat/completions"
        cpu_before, began = cpu_seconds(gw.pid), time.perf_counter()
        deadline = began + duration_s
        async with http_session(concurrency) as session:

            async def worker() -> None:
                while time.perf_counter() < deadline:
                    body = self.bodies[self.next]
                    self.next += 1
                    sent = time.perf_counter()
                    async with session.post(url, data=body, headers=JSON_HEADERS) as response:
                        await response.read()
                        layer = response.headers.get(CACHE_HEADER, "?")
                        status = response.status
                    if count:
                        self.layers[layer if status == 200 else f"status {status}"] += 1
                        if status == 200 and layer == "miss":
                            self.latencies.append((time.perf_counter() - sent) * 1000)

            async with anyio.create_task_group() as group:
                for _ in range(concurrency):
                    group.start_soon(worker)
        if count:
            self.elapsed += time.perf_counter() - began
            self.cpu += cpu_seconds(gw.pid) - cpu_before


async def _end_to_end(gateways: dict[str, Server]) -> None:
    per = 200_000 // len(gateways)  # the word lists make 201,600 distinct questions
    bodies = [completion_body(q) for q in unique_questions(per * len(gateways), seed=17)]
    loops = {name: _Loop(bodies[i * per : (i + 1) * per]) for i, name in enumerate(gateways)}
    print(
        f"{'miss, unique questions':<24}  {'c':>3}  {'p50 ms':>7}  {'p99 ms':>7}  {'req/s':>7}"
        f"  {'CPU ms/req':>10}  responses"
    )
    for c in CONCURRENCY:
        results = {name: _Loop([]) for name in loops}
        for name, loop in loops.items():  # warm the path (and the index: a few hundred entries)
            await loop.run(gateways[name], c, 1.0, count=False)
        for r in range(ROUNDS):
            order = list(loops) if r % 2 == 0 else list(reversed(loops))
            for name in order:
                live = loops[name]
                live.latencies, live.layers, live.elapsed, live.cpu = [], Counter(), 0.0, 0.0
                await live.run(gateways[name], c, ROUND_S, count=True)
                total = results[name]
                total.latencies += live.latencies
                total.layers += live.layers
                total.elapsed += live.elapsed
                total.cpu += live.cpu
        for name, total in results.items():
            served = sum(total.layers.values())
            label = {
                "semantic": "semantic on (default)",
                "off": "semantic off",
                "in threads": "semantic on, no helper",
                "float32": "semantic on, float32",
            }.get(name, name)
            rate = len(total.latencies) / total.elapsed
            print(
                f"{label:<24}  {c:>3}  {pct(total.latencies, 0.5):>7.2f}"
                f"  {pct(total.latencies, 0.99):>7.2f}  {rate:>7.0f}"
                f"  {1000 * total.cpu / max(served, 1):>10.2f}  {dict(total.layers)}",
                flush=True,
            )
        added = pct(results["semantic"].latencies, 0.5) - pct(results["off"].latencies, 0.5)
        print(f"{'':<24}  {c:>3}  semantic layer adds {added:+.2f} ms p50 to a miss", flush=True)


def _e2e(before: str | None) -> None:
    """``before``: a git ref whose gateway runs as a third variant (e.g. the commit before
    embed-once), in the same run."""
    with contextlib.ExitStack() as stack:
        upstream = stack.enter_context(simulator())
        gateways = {
            "off": stack.enter_context(gateway(upstream.url, SEMANTIC_OFF)),
            "semantic": stack.enter_context(gateway(upstream.url)),
            "in threads": stack.enter_context(gateway(upstream.url, IN_THREADS)),
            "float32": stack.enter_context(gateway(upstream.url, FLOAT32_EMBEDDER)),
        }
        if before is not None:
            tree = stack.enter_context(baseline_tree(before))
            gateways[f"semantic on @{before}"] = stack.enter_context(
                gateway(upstream.url, source=tree)
            )
        anyio.run(_end_to_end, gateways)


def main(argv: Sequence[str] = ()) -> None:
    parser = argparse.ArgumentParser(prog="bench_semantic_backends")
    parser.add_argument("--quick", action="store_true", help="10k and 100k entries only")
    parser.add_argument("--sizes", type=int, nargs="+", help="entry counts to measure")
    parser.add_argument("--no-e2e", action="store_true", help="skip the end-to-end miss rows")
    parser.add_argument("--no-index", action="store_true", help="skip the backend rows")
    parser.add_argument("--before", help="git ref of a gateway to add to the miss rows")
    parser.add_argument(
        "--memory-runs", type=int, default=1, help="N > 1: only the in-process index, N times"
    )
    args = parser.parse_args(list(argv))
    limit_blas_threads(1)
    sizes = args.sizes or (SIZES if args.quick else FULL_SIZES)
    if not args.no_index:
        anyio.run(_backends, sizes, args.memory_runs)
    if not args.no_e2e:
        _e2e(args.before)


if __name__ == "__main__":
    main(sys.argv[1:])
