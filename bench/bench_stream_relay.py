"""Stream relay cost: gateway CPU per streamed answer and streams per second at high
concurrency, straight to the simulator versus through Frugal's ``/v1/chat/completions``
(``stream: true``), and, when ``BENCH_BASELINE`` names a git reference, through that
earlier version of the gateway too, all in one sitting.

The simulator answers at once (no pacing) with ``--output-tokens`` tokens, one chunk each, so
every stream carries that many content chunks plus the role, finish and usage chunks. The
gateway runs as one `frugal serve` process (semantic cache off, ``x-frugal-cache:
no-store``, a concrete model), so every stream goes upstream and is relayed. CPU per stream
is the serving process's user+system time over the round (``/proc/<pid>/stat``) divided by
the streams completed. Rounds rotate the variants so machine noise hits all of them.

Run one: ``python -m bench.bench_stream_relay [--rounds N] [--round-s S] [--chunks K] ...``.
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

ROUNDS = 3
ROUND_S = 4.0
WARMUP_S = 1.0
CHUNKS = 20
CONCURRENCY = (1, 32)
TARGET_CPU_MS = 1.0
TARGET_SPEEDUP = 2.0


async def _measure(
    targets: dict[str, tuple[str, int]],
    *,
    rounds: int,
    round_s: float,
    concurrency: Sequence[int],
) -> dict[tuple[int, str], RoundTotals]:
    bodies = [completion_body(q, stream=True) for q in questions(64)]
    headers = {**JSON_HEADERS, **NO_STORE}
    return await rotated_rounds(
        {name: Target(url, headers, pid) for name, (url, pid) in targets.items()},
        bodies,
        rounds=rounds,
        round_s=round_s,
        concurrency=concurrency,
        warmup_s=WARMUP_S,
    )


def _report(
    totals: dict[tuple[int, str], RoundTotals], variants: Sequence[str], concurrency: Sequence[int]
) -> None:
    print(f"{'c':>3} {'variant':<10}{'streams/s':>11}{'p50 ms':>9}{'p99 ms':>9}"
          f"{'CPU ms/stream':>15}{'streams':>9}{'errors':>8}")  # fmt: skip
    for c in concurrency:
        for variant in variants:
            t = totals[(c, variant)]
            print(
                f"{c:>3} {variant:<10}{t.rate:>11.0f}{pct(t.latencies_ms, 0.5):>9.2f}"
                f"{pct(t.latencies_ms, 0.99):>9.2f}{t.per_request_ms(t.cpu_s):>15.3f}"
                f"{len(t.latencies_ms):>9}{t.errors:>8}"
            )
    top = max(concurrency)
    frugal = totals[(top, "frugal")]
    cpu = frugal.per_request_ms(frugal.cpu_s)
    verdict = "met" if cpu <= TARGET_CPU_MS else "MISSED"
    print(f"target <= {TARGET_CPU_MS:g} ms gateway CPU per stream (c={top}): {verdict} ({cpu:.3f})")
    if "before" in variants:
        before = totals[(top, "before")]
        speedup = frugal.rate / before.rate if before.rate else 0.0
        verdict = "met" if speedup >= TARGET_SPEEDUP else "MISSED"
        print(f"target >= {TARGET_SPEEDUP:g}x the baseline's streams/s at c={top}: {verdict} "
              f"({frugal.rate:.0f} / {before.rate:.0f} = {speedup:.2f}x)")  # fmt: skip


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="bench_stream_relay", description=__doc__)
    parser.add_argument("--rounds", type=int, default=ROUNDS, help="rounds per variant")
    parser.add_argument("--round-s", type=float, default=ROUND_S, help="seconds per round")
    parser.add_argument("--chunks", type=int, default=CHUNKS, help="content chunks per stream")
    parser.add_argument("--concurrency", type=int, nargs="+", default=list(CONCURRENCY))
    parser.add_argument("--baseline", default=baseline_ref(), help="git ref to compare with")
    args = parser.parse_args([] if argv is None else argv)
    load = machine_load()
    with ExitStack() as stack:
        sim: Server = stack.enter_context(simulator(("--output-tokens", str(args.chunks))))
        gw = stack.enter_context(gateway(sim.url, SEMANTIC_OFF))
        path = "/v1/chat/completions"
        targets = {"direct": (f"{sim.url}{path}", sim.pid), "frugal": (f"{gw.url}{path}", gw.pid)}
        if args.baseline:
            tree = stack.enter_context(baseline_tree(args.baseline))
            before = stack.enter_context(gateway(sim.url, SEMANTIC_OFF, source=tree))
            targets["before"] = (f"{before.url}{path}", before.pid)
        measure = partial(
            _measure, targets, rounds=args.rounds, round_s=args.round_s,
            concurrency=args.concurrency,
        )  # fmt: skip
        totals = anyio.run(measure, backend_options={"use_uvloop": True})
    print(
        f"streamed /v1/chat/completions, {args.chunks} content chunks per answer, simulator "
        f"unpaced; {args.rounds} rotated rounds x {args.round_s:g} s per variant"
        + (f"; 'before' is {args.baseline}" if args.baseline else "")
    )
    print(f"machine: {load} before the run")
    _report(totals, list(targets), args.concurrency)


if __name__ == "__main__":
    main(sys.argv[1:])
