"""The semantic-cache path, apart from the proxy overhead: what a semantic lookup adds to a
miss, what a semantic hit costs, and how micro-batching holds up under concurrency.

Two `frugal serve` processes against one simulator at 0 ms: ``semantic`` (stock settings,
semantic cache on) and ``off`` (``FRUGAL_CACHE_SEMANTIC_ENABLED=false``). Every request is
``POST /v1/chat/completions`` for the concrete model (so no knowledge-base search adds an
embedding of its own) with ``x-frugal-cache: no-store`` (nothing is ever written, so the exact
lookup always misses and each request takes the same path every time). Variants:

* ``miss-off`` / ``miss-sem``: questions no stored entry answers, through each gateway. The
  semantic index holds the fill below, so on ``semantic`` every one is embedded and searched
  (an empty index would skip the embedding); the probe table shows the reasons and scores.
* ``hit-sem``: paraphrases (the pairs' ``b`` side) of the stored ``a`` sides; only responses
  whose ``x-frugal-cache`` header says ``semantic`` count.

Rounds rotate the variants' order at each concurrency; CPU per request is the serving
gateway's user+system time over the round (``/proc/<pid>/stat``). "lookup CPU" is miss-sem
minus miss-off: the embedding and index search per lookup, which falls as concurrent lookups
share forward passes. The gateway exposes no embedder batch sizes (not in /metrics or /stats).

Run one: ``python -m bench.bench_semantic_path [--rounds N] [--round-s S] [--concurrency ..]``.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections import Counter
from collections.abc import Sequence
from functools import partial

import anyio

from bench.gateway_process import (
    JSON_HEADERS,
    MODEL,
    NO_STORE,
    SEMANTIC_OFF,
    Server,
    cpu_seconds,
    gateway,
    http_session,
    machine_load,
    pct,
    simulator,
)
from bench.semantic_workload import (
    LayeredSample,
    Workload,
    layered_loop,
    prepare,
    reasons,
    semantic_counters,
)

ROUNDS = 4
ROUND_S = 3.0
WARMUP_S = 1.0
CONCURRENCY = (1, 8, 32)
MISS_QUESTIONS = 200
VARIANTS = ("miss-off", "miss-sem", "hit-sem")
HEADERS = {**JSON_HEADERS, **NO_STORE}


class _Totals:
    def __init__(self) -> None:
        self.latencies_ms: list[float] = []
        self.elapsed_s = 0.0
        self.other = 0
        self.errors = 0
        self.cpu_s = 0.0

    def add(self, sample: LayeredSample, cpu_s: float) -> None:
        self.latencies_ms += sample.latencies_ms
        self.elapsed_s += sample.elapsed_s
        self.other += sample.other
        self.errors += sample.errors
        self.cpu_s += cpu_s

    @property
    def rate(self) -> float:
        return len(self.latencies_ms) / self.elapsed_s if self.elapsed_s else 0.0

    @property
    def cpu_ms(self) -> float:
        # Per counted request; other-layer answers are rare (none expected) and also cost CPU.
        served = len(self.latencies_ms) + self.other
        return 1000 * self.cpu_s / served if served else 0.0

    @property
    def fraction(self) -> float:
        served = len(self.latencies_ms) + self.other
        return len(self.latencies_ms) / served if served else 0.0

    def p(self, q: float) -> float:
        return pct(self.latencies_ms, q)


class _Run:
    def __init__(self, workload: Workload) -> None:
        self.workload = workload
        self.totals: dict[tuple[int, str], _Totals] = {}
        self.counters: dict[str, float] = {}  # /metrics semantic lookups, by result
        self.seen: Counter[str] = Counter()  # x-frugal-cache of every 200 from 'semantic'


async def _measure(
    sem: Server, off: Server, *, rounds: int, round_s: float, concurrency: Sequence[int]
) -> _Run:
    workload = await prepare(sem, off, miss_count=MISS_QUESTIONS)
    if not workload.hit_bodies or not workload.miss_bodies:
        raise RuntimeError("no semantic hits or no misses found while preparing")
    run = _Run(workload)
    targets = {
        "miss-off": (off, workload.miss_bodies, "miss"),
        "miss-sem": (sem, workload.miss_bodies, "miss"),
        "hit-sem": (sem, workload.hit_bodies, "semantic"),
    }
    async with http_session(1) as probe:
        before = await semantic_counters(probe, sem)
    for c in concurrency:
        async with http_session(c) as s_sem, http_session(c) as s_off:
            sessions = {sem.pid: s_sem, off.pid: s_off}
            for gw, bodies, want in targets.values():  # fill the pools, warm the paths
                sample = await layered_loop(
                    sessions[gw.pid], f"{gw.url}/v1/chat/completions", bodies,
                    headers=HEADERS, want=want, concurrency=c, duration_s=WARMUP_S,
                )  # fmt: skip
                if gw is sem:
                    run.seen += sample.layers
            for r in range(rounds):
                shift = r % len(VARIANTS)
                for variant in VARIANTS[shift:] + VARIANTS[:shift]:
                    gw, bodies, want = targets[variant]
                    cpu_before = cpu_seconds(gw.pid)
                    sample = await layered_loop(
                        sessions[gw.pid], f"{gw.url}/v1/chat/completions", bodies,
                        headers=HEADERS, want=want, concurrency=c, duration_s=round_s,
                    )  # fmt: skip
                    total = run.totals.setdefault((c, variant), _Totals())
                    total.add(sample, cpu_seconds(gw.pid) - cpu_before)
                    if gw is sem:
                        run.seen += sample.layers
    async with http_session(1) as probe:
        after = await semantic_counters(probe, sem)
    run.counters = {k: after.get(k, 0.0) - before.get(k, 0.0) for k in ("hit", "miss")}
    return run


def _report_probes(w: Workload) -> None:
    hits = len(w.hit_bodies)
    print(f"prepare: {w.paraphrases} paraphrases probed, {hits} served by the semantic layer "
          f"({hits / w.paraphrases:.0%}); {len(w.miss_bodies)} miss questions")  # fmt: skip
    print(f"  semantic verdicts on {len(w.candidates)} candidates (POST /chat, no-store): "
          f"{reasons(w.candidates)}; kept the {len(w.miss_probes)} misses with a similarity "
          f"score (embedded and searched: {reasons(w.miss_probes)})")  # fmt: skip
    sem_ms = statistics.median(p.cache_stage_ms for p in w.miss_probes)
    off_ms = statistics.median(p.cache_stage_ms for p in w.off_probes)
    print(f"  server 'cache' stage on a miss, c=1 median: semantic {sem_ms:.2f} ms, "
          f"off {off_ms:.2f} ms ({reasons(w.off_probes)})")  # fmt: skip


def _report(run: _Run, concurrency: Sequence[int]) -> None:
    _report_probes(run.workload)
    print(f"{'c':>3} {'variant':<10}{'req/s':>9}{'p50 ms':>9}{'p99 ms':>9}{'CPU ms/req':>12}"
          f"{'layer ok':>10}{'requests':>10}{'errors':>8}")  # fmt: skip
    for c in concurrency:
        for variant in VARIANTS:
            t = run.totals[(c, variant)]
            print(f"{c:>3} {variant:<10}{t.rate:>9.0f}{t.p(0.5):>9.2f}{t.p(0.99):>9.2f}"
                  f"{t.cpu_ms:>12.3f}{t.fraction:>10.1%}{len(t.latencies_ms):>10}"
                  f"{t.errors:>8}")  # fmt: skip
        off, sem = run.totals[(c, "miss-off")], run.totals[(c, "miss-sem")]
        ratio = sem.rate / off.rate if off.rate else 0.0
        print(f"{c:>3} {'added':<10}{'':>9}{sem.p(0.5) - off.p(0.5):>+9.2f}"
              f"{sem.p(0.99) - off.p(0.99):>+9.2f}{sem.cpu_ms - off.cpu_ms:>+12.3f}"
              f"   miss-sem/miss-off throughput {ratio:.1%}")  # fmt: skip
    print("micro-batching (throughput vs c=1; lookup CPU = miss-sem - miss-off CPU ms/req):")
    base = {v: run.totals[(concurrency[0], v)].rate for v in VARIANTS}
    for c in concurrency:
        off, sem, hit = (run.totals[(c, v)] for v in VARIANTS)
        scale = [run.totals[(c, v)].rate / base[v] if base[v] else 0.0 for v in VARIANTS]
        print(f"  c={c:<3} miss-off x{scale[0]:.2f}  miss-sem x{scale[1]:.2f}  "
              f"hit-sem x{scale[2]:.2f}   lookup CPU {sem.cpu_ms - off.cpu_ms:.3f} ms/query, "
              f"hit CPU {hit.cpu_ms:.3f} ms/req")  # fmt: skip
    print("  mean embedder batch size: not exposed by the gateway (/metrics, /stats)")
    print(f"'semantic' gateway /metrics semantic lookups over warm-ups and rounds: "
          f"hit {run.counters['hit']:.0f}, miss {run.counters['miss']:.0f}; responses seen: "
          f"semantic {run.seen['semantic']}, miss {run.seen['miss']}")  # fmt: skip


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="bench_semantic_path", description=__doc__)
    parser.add_argument("--rounds", type=int, default=ROUNDS, help="rounds per variant")
    parser.add_argument("--round-s", type=float, default=ROUND_S, help="seconds per round")
    parser.add_argument("--concurrency", type=int, nargs="+", default=list(CONCURRENCY))
    args = parser.parse_args([] if argv is None else argv)
    load = machine_load()
    started = time.perf_counter()
    with simulator() as sim, gateway(sim.url) as sem, gateway(sim.url, SEMANTIC_OFF) as off:
        measure = partial(
            _measure, sem, off, rounds=args.rounds, round_s=args.round_s,
            concurrency=args.concurrency,
        )  # fmt: skip
        run = anyio.run(measure, backend_options={"use_uvloop": True})
    print(
        f"semantic-cache path: POST /v1/chat/completions (model {MODEL}, x-frugal-cache: "
        f"no-store), gateway 'semantic' (stock) vs 'off' (semantic cache disabled), simulator "
        f"at 0 ms; {args.rounds} rotated rounds x {args.round_s:g} s per variant and "
        f"concurrency ({time.perf_counter() - started:.0f} s with start-up and warm-up)"
    )
    print(f"machine: {load} before the run")
    _report(run, args.concurrency)


if __name__ == "__main__":
    main(sys.argv[1:])
