"""Gateway memory: RSS per cached answer (exact cache alone, then exact plus semantic) and RSS
growth over a soak at steady load.

Fill: a fresh `frugal serve` process answers distinct questions on ``POST /chat`` (each a
cache miss that is then stored; the ``cache_diagnostics.write`` field says whether it was)
until ``--entries`` answers are stored or ``--fill-s`` runs out. Every miss pays the gateway's
embedding work (and, with the semantic cache on, one more embedding), so 100k entries take
longer than a benchmark should on a small machine: when the fill stops early the RSS at
``--entries`` is extrapolated linearly from the measured bytes per entry and labelled so.
Questions are seeded random draws of words from the bundled knowledge base, so they are far
apart for the semantic cache too (numbered variants of one question would be semantic hits).

Soak: a fresh gateway (stock settings) gets a steady closed-loop mix (exact hits on both
endpoints, uncached ``no-store`` misses, streamed misses) whose cache footprint is bounded;
after ``--warmup-s``, RSS is sampled until ``--soak-s`` and its growth reported (a leak shows
as growth). RSS is ``VmRSS`` from ``/proc/<pid>/status``.

Run one: ``python -m bench.bench_memory [--entries N] [--fill-s S] [--soak-s S] ...``.
"""

from __future__ import annotations

import argparse
import random
import re
import sys
import time
from collections.abc import Mapping, Sequence
from functools import partial
from pathlib import Path

import aiohttp
import anyio
import msgspec

from bench.gateway_process import (
    JSON_HEADERS,
    NO_STORE,
    SEMANTIC_OFF,
    Server,
    chat_body,
    completion_body,
    gateway,
    http_session,
    machine_load,
    rss_bytes,
    simulator,
)

ENTRIES = 100_000
FILL_S = 120.0
FILL_CONCURRENCY = 32
SOAK_S = 300.0
WARMUP_S = 30.0
SOAK_CONCURRENCY = 8
SAMPLE_S = 10.0
FILL_SAMPLE_S = 2.0
HIT_SET = 200
TARGET_GROWTH = 0.05
FAQ = Path(__file__).resolve().parent.parent / "examples" / "support" / "faq.json"
MB = 1024 * 1024
FILLS: dict[str, Mapping[str, str]] = {"exact": SEMANTIC_OFF, "exact+semantic": {}}
"""Each fill's gateway settings."""


class _Faq(msgspec.Struct):
    title: str
    question: str
    answer: str


class _Diagnostics(msgspec.Struct):
    write: str


class _ChatAnswer(msgspec.Struct):
    cache_diagnostics: _Diagnostics


def distinct_questions(count: int, *, seed: int) -> list[str]:
    """``count`` different questions of 7 knowledge-base words each, reproducible by seed."""
    entries = msgspec.json.decode(FAQ.read_bytes(), type=list[_Faq])
    text = " ".join(f"{e.title} {e.question} {e.answer}" for e in entries).lower()
    vocabulary = sorted({w for w in re.findall(r"[a-z]{3,}", text)})
    rng = random.Random(seed)
    found: dict[str, None] = {}
    while len(found) < count:
        words = rng.sample(vocabulary, 7)
        found[" ".join(words).capitalize() + "?"] = None
    return list(found)


class _Fill:
    def __init__(self, label: str) -> None:
        self.label = label
        self.stored = 0
        self.requests = 0
        self.errors = 0
        self.elapsed_s = 0.0
        self.rss_base = 0
        self.points: list[tuple[int, int]] = []  # (stored, rss bytes)

    @property
    def rss_end(self) -> int:
        return self.points[-1][1] if self.points else self.rss_base

    def bytes_per_entry(self) -> float:
        return (self.rss_end - self.rss_base) / self.stored if self.stored else 0.0


async def _fill(gw: Server, fill: _Fill, *, entries: int, fill_s: float, seed: int) -> None:
    """Store distinct answers until ``entries`` are stored or ``fill_s`` has passed."""
    url = f"{gw.url}/chat"
    decoder = msgspec.json.Decoder(_ChatAnswer)
    # Enough questions for the best case; drawn lazily in blocks to keep start-up short.
    block = distinct_questions(min(entries, 20_000), seed=seed)
    next_index = 0
    async with http_session(FILL_CONCURRENCY) as session:
        warm = [chat_body(q) for q in distinct_questions(64, seed=seed + 1_000_000)]
        for body in warm:  # lazy imports, first embeddings: not part of the per-entry cost
            async with session.post(url, data=body, headers={**JSON_HEADERS, **NO_STORE}) as r:
                await r.read()
        fill.rss_base = rss_bytes(gw.pid)
        started = time.perf_counter()
        deadline = started + fill_s

        async def worker() -> None:
            nonlocal next_index, block
            while fill.stored < entries and time.perf_counter() < deadline:
                if next_index >= len(block):
                    block = distinct_questions(len(block) * 2, seed=seed)
                question = block[next_index]
                next_index += 1
                fill.requests += 1
                try:
                    body = chat_body(question)
                    async with session.post(url, data=body, headers=JSON_HEADERS) as r:
                        raw = await r.read()
                        ok = r.status == 200
                except aiohttp.ClientError:
                    ok = False
                if not ok:
                    fill.errors += 1
                elif decoder.decode(raw).cache_diagnostics.write.startswith("stored"):
                    fill.stored += 1

        async def sampler() -> None:
            while True:
                await anyio.sleep(FILL_SAMPLE_S)
                fill.points.append((fill.stored, rss_bytes(gw.pid)))

        async with anyio.create_task_group() as group:
            group.start_soon(sampler)
            async with anyio.create_task_group() as workers:
                for _ in range(FILL_CONCURRENCY):
                    workers.start_soon(worker)
            group.cancel_scope.cancel()
        fill.elapsed_s = time.perf_counter() - started
        await anyio.sleep(0.5)  # let the last writes settle before the final reading
        fill.points.append((fill.stored, rss_bytes(gw.pid)))


class _Soak:
    def __init__(self) -> None:
        self.requests = 0
        self.errors = 0
        self.samples: list[tuple[float, int, int]] = []  # (t, requests, rss bytes)


async def _soak(gw: Server, soak: _Soak, *, warmup_s: float, soak_s: float, seed: int) -> None:
    hits = distinct_questions(HIT_SET, seed=seed)
    misses = distinct_questions(HIT_SET, seed=seed + 1)
    bypass = {**JSON_HEADERS, **NO_STORE}
    chat, v1 = f"{gw.url}/chat", f"{gw.url}/v1/chat/completions"
    items: list[tuple[str, bytes, Mapping[str, str]]] = []
    for hit, miss in zip(hits, misses, strict=True):
        items += [
            (chat, chat_body(hit), JSON_HEADERS),
            (v1, completion_body(hit), JSON_HEADERS),
            (v1, completion_body(miss), bypass),
            (v1, completion_body(miss, stream=True), bypass),
        ]
    next_index = 0
    async with http_session(SOAK_CONCURRENCY) as session:
        for hit in hits:  # store the hit set on both endpoints
            for url, body in ((chat, chat_body(hit)), (v1, completion_body(hit))):
                async with session.post(url, data=body, headers=JSON_HEADERS) as r:
                    await r.read()
        started = time.perf_counter()
        deadline = started + warmup_s + soak_s

        async def worker() -> None:
            nonlocal next_index
            while time.perf_counter() < deadline:
                url, body, headers = items[next_index % len(items)]
                next_index += 1
                try:
                    async with session.post(url, data=body, headers=headers) as r:
                        await r.read()
                        ok = r.status == 200
                except aiohttp.ClientError:
                    ok = False
                soak.requests += 1
                soak.errors += not ok

        async def sampler() -> None:
            await anyio.sleep(warmup_s)
            while True:
                t = time.perf_counter() - started
                soak.samples.append((t, soak.requests, rss_bytes(gw.pid)))
                await anyio.sleep(SAMPLE_S)

        async with anyio.create_task_group() as group:
            group.start_soon(sampler)
            async with anyio.create_task_group() as workers:
                for _ in range(SOAK_CONCURRENCY):
                    workers.start_soon(worker)
            group.cancel_scope.cancel()
        soak.samples.append((time.perf_counter() - started, soak.requests, rss_bytes(gw.pid)))


def _report_fills(fills: Sequence[_Fill], entries: int) -> None:
    print(f"{'cache':<16}{'stored':>8}{'requests':>9}{'errors':>7}{'s':>6}{'req/s':>7}"
          f"{'RSS base':>10}{'RSS end':>9}{'KB/entry':>9}{'1st/2nd half':>14}"
          f"  RSS at {entries:,} entries")  # fmt: skip
    for f in fills:
        # The reading nearest the half-way count splits the fill into two slopes.
        mid = min(f.points, key=lambda p: abs(p[0] - f.stored / 2), default=(0, f.rss_base))
        first = (mid[1] - f.rss_base) / mid[0] / 1024 if mid[0] else 0.0
        second = (f.rss_end - mid[1]) / (f.stored - mid[0]) / 1024 if f.stored > mid[0] else 0.0
        at = f.rss_base + f.bytes_per_entry() * entries
        label = "measured" if f.stored >= entries else f"extrapolated from {f.stored:,}"
        print(
            f"{f.label:<16}{f.stored:>8}{f.requests:>9}{f.errors:>7}{f.elapsed_s:>6.0f}"
            f"{f.requests / f.elapsed_s:>7.0f}{f.rss_base / MB:>9.0f}M{f.rss_end / MB:>8.0f}M"
            f"{f.bytes_per_entry() / 1024:>9.2f}{first:>7.2f}/{second:<6.2f}"
            f"  {at / MB:,.0f} MB ({label})"
        )


def _report_soak(soak: _Soak, soak_s: float, warmup_s: float) -> None:
    if not soak.samples:
        return
    t0, n0, rss0 = soak.samples[0]
    t1, n1, rss1 = soak.samples[-1]
    peak = max(s[2] for s in soak.samples)
    growth = (rss1 - rss0) / rss0
    rate = (n1 - n0) / (t1 - t0) if t1 > t0 else 0.0
    print(f"soak: {soak_s:g} s after {warmup_s:g} s warm-up, concurrency {SOAK_CONCURRENCY}, "
          f"{soak.requests} requests ({rate:.0f} req/s), {soak.errors} errors")  # fmt: skip
    last = len(soak.samples) - 1
    points = [soak.samples[i] for i in sorted({round(k * last / 6) for k in range(7)})]
    print("  " + "  ".join(f"t={t - t0:.0f}s {rss / MB:.1f}M" for t, _, rss in points))
    verdict = "met" if growth <= TARGET_GROWTH else "MISSED"
    print(f"RSS after warm-up {rss0 / MB:.1f} MB, end {rss1 / MB:.1f} MB, peak {peak / MB:.1f} MB;"
          f" growth {growth:+.1%} (target <= {TARGET_GROWTH:.0%}: {verdict})")  # fmt: skip


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="bench_memory", description=__doc__)
    parser.add_argument("--entries", type=int, default=ENTRIES, help="answers to cache")
    parser.add_argument("--fill-s", type=float, default=FILL_S, help="time bound of each fill")
    parser.add_argument("--soak-s", type=float, default=SOAK_S, help="0 skips the soak")
    parser.add_argument("--warmup-s", type=float, default=WARMUP_S, help="soak warm-up")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument(
        "--fills", nargs="*", choices=FILLS, default=list(FILLS), help="which fills to run"
    )
    args = parser.parse_args([] if argv is None else argv)
    load = machine_load()
    fills = [_Fill(name) for name in FILLS if name in args.fills]
    soak = _Soak()
    with simulator() as sim:
        for fill in fills:
            with gateway(sim.url, FILLS[fill.label]) as gw:
                run = partial(
                    _fill, gw, fill, entries=args.entries, fill_s=args.fill_s, seed=args.seed
                )
                anyio.run(run, backend_options={"use_uvloop": True})
        if args.soak_s > 0:
            with gateway(sim.url) as gw:
                run = partial(
                    _soak, gw, soak, warmup_s=args.warmup_s, soak_s=args.soak_s,
                    seed=args.seed + 2,
                )  # fmt: skip
                anyio.run(run, backend_options={"use_uvloop": True})
    print(f"gateway RSS while caching distinct answers (POST /chat, concurrency "
          f"{FILL_CONCURRENCY}, fill bounded by {args.fill_s:g} s), simulator at 0 ms; "
          f"KB/entry = (RSS end - base) / stored, and in each half of the fill")  # fmt: skip
    print(f"machine: {load} before the run")
    if fills:
        _report_fills(fills, args.entries)
    if args.soak_s > 0:
        _report_soak(soak, args.soak_s, args.warmup_s)


if __name__ == "__main__":
    main(sys.argv[1:])
