"""Proxy overhead on the cache-miss path: the same request loop straight to the simulator
versus through Frugal's ``/v1/chat/completions``, at concurrency 1 and 64, in one sitting.

The simulator runs at 0 ms latency in its own process; the gateway runs as one `frugal serve`
process pointed at it, with the semantic cache switched off and every request sent with
``x-frugal-cache: no-store`` and a concrete model, so nothing is ever cached and every request
goes upstream. Rounds alternate direct and Frugal (and which goes first) so machine noise hits
both. CPU per request is the serving process's user+system time over the round
(``/proc/<pid>/stat``): the simulator's for direct, the gateway's for Frugal; "client CPU"
is the load generator's own (this process, `bench.lean_http`: one keep-alive connection per
worker, httptools parsing), which shares the machine.

Run one: ``python -m bench.bench_overhead [--rounds N] [--round-s S] [--concurrency 1 64]``.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from contextlib import ExitStack
from functools import partial

import anyio

from bench.baseline import baseline_ref, baseline_tree
from bench.gateway_process import (
    JSON_HEADERS,
    MODEL,
    NO_STORE,
    SEMANTIC_OFF,
    RoundTotals,
    Server,
    completion_body,
    gateway,
    machine_load,
    pct,
    questions,
    simulator,
)
from bench.rounds import Target, rotated_rounds

ROUNDS = 5
ROUND_S = 3.0
WARMUP_S = 1.0
CONCURRENCY = (1, 64)
QUESTIONS = 256
TARGET_P50_MS = 1.0
TARGET_P99_MS = 3.0
TARGET_RATIO = 0.25


async def _measure(
    sim: Server,
    gw: Server,
    before: Server | None,
    *,
    rounds: int,
    round_s: float,
    concurrency: Sequence[int],
) -> dict[tuple[int, str], RoundTotals]:
    bodies = [completion_body(q) for q in questions(QUESTIONS)]
    targets = {
        "direct": Target(f"{sim.url}/v1/chat/completions", JSON_HEADERS, sim.pid),
        "frugal": Target(f"{gw.url}/v1/chat/completions", {**JSON_HEADERS, **NO_STORE}, gw.pid),
    }
    if before is not None:
        path = f"{before.url}/v1/chat/completions"
        targets["before"] = Target(path, {**JSON_HEADERS, **NO_STORE}, before.pid)
    return await rotated_rounds(
        targets,
        bodies,
        rounds=rounds,
        round_s=round_s,
        concurrency=concurrency,
        warmup_s=WARMUP_S,
    )


def _report(totals: dict[tuple[int, str], RoundTotals], concurrency: Sequence[int]) -> None:
    variants = sorted({v for _, v in totals}, key=["direct", "frugal", "before"].index)
    print(f"{'c':>3} {'variant':<8}{'req/s':>9}{'p50 ms':>9}{'p99 ms':>9}"
          f"{'CPU ms/req':>12}{'client CPU':>12}{'requests':>10}{'errors':>8}")  # fmt: skip
    for c in concurrency:
        for variant in variants:
            t = totals[(c, variant)]
            print(
                f"{c:>3} {variant:<8}{t.rate:>9.0f}{pct(t.latencies_ms, 0.5):>9.2f}"
                f"{pct(t.latencies_ms, 0.99):>9.2f}{t.per_request_ms(t.cpu_s):>12.3f}"
                f"{t.per_request_ms(t.client_cpu_s):>12.3f}"
                f"{len(t.latencies_ms):>10}{t.errors:>8}"
            )
        direct, frugal = totals[(c, "direct")], totals[(c, "frugal")]
        added50 = pct(frugal.latencies_ms, 0.5) - pct(direct.latencies_ms, 0.5)
        added99 = pct(frugal.latencies_ms, 0.99) - pct(direct.latencies_ms, 0.99)
        ratio = frugal.rate / direct.rate if direct.rate else 0.0
        print(f"{c:>3} {'added':<8}{'':>9}{added50:>+9.2f}{added99:>+9.2f}"
              f"   frugal/direct throughput {ratio:.1%}")  # fmt: skip
    if 1 in concurrency:
        d, f = totals[(1, "direct")], totals[(1, "frugal")]
        added50 = pct(f.latencies_ms, 0.5) - pct(d.latencies_ms, 0.5)
        added99 = pct(f.latencies_ms, 0.99) - pct(d.latencies_ms, 0.99)
        verdict = "met" if added50 <= TARGET_P50_MS and added99 <= TARGET_P99_MS else "MISSED"
        print(f"target c=1 added latency <= {TARGET_P50_MS} ms p50 / <= {TARGET_P99_MS} ms p99: "
              f"{verdict} (+{added50:.2f} / +{added99:.2f} ms)")  # fmt: skip
    top = max(concurrency)
    if top > 1:
        d, f = totals[(top, "direct")], totals[(top, "frugal")]
        ratio = f.rate / d.rate if d.rate else 0.0
        verdict = "met" if ratio >= TARGET_RATIO else "MISSED"
        print(f"target c={top} throughput >= {TARGET_RATIO:.0%} of direct: {verdict} "
              f"({f.rate:.0f} / {d.rate:.0f} req/s = {ratio:.1%})")  # fmt: skip


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="bench_overhead", description=__doc__)
    parser.add_argument("--rounds", type=int, default=ROUNDS, help="rounds per variant")
    parser.add_argument("--round-s", type=float, default=ROUND_S, help="seconds per round")
    parser.add_argument("--concurrency", type=int, nargs="+", default=list(CONCURRENCY))
    parser.add_argument("--baseline", default=baseline_ref(), help="git ref to compare with")
    args = parser.parse_args([] if argv is None else argv)
    load = machine_load()
    with ExitStack() as stack:
        sim = stack.enter_context(simulator())
        gw = stack.enter_context(gateway(sim.url, SEMANTIC_OFF))
        before = None
        if args.baseline:
            tree = stack.enter_context(baseline_tree(args.baseline))
            before = stack.enter_context(gateway(sim.url, SEMANTIC_OFF, source=tree))
        measure = partial(
            _measure, sim, gw, before, rounds=args.rounds, round_s=args.round_s,
            concurrency=args.concurrency,
        )  # fmt: skip
        totals = anyio.run(measure, backend_options={"use_uvloop": True})
    print(
        f"/v1/chat/completions cache miss (model {MODEL}, "
        f"x-frugal-cache: no-store, semantic cache off) vs direct to the simulator at 0 ms; "
        f"{args.rounds} interleaved rounds x {args.round_s:g} s per variant and concurrency"
        + (f"; 'before' is {args.baseline}" if args.baseline else "")
    )
    print(f"machine: {load} before the run")
    _report(totals, args.concurrency)


if __name__ == "__main__":
    main(sys.argv[1:])
