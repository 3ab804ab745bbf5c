"""``/v1/responses`` next to ``/v1/chat/completions`` on one gateway, in one sitting: the
cost of the Responses translation on a cache miss and on an exact hit.

The simulator runs at 0 ms latency in its own process; the gateway runs as one `frugal serve`
process pointed at it, semantic cache off. Misses are questions never stored (sent with
``x-frugal-cache: no-store``, so every request goes upstream); hits repeat temperature-0
requests whose answers the warm-up stored (a Responses request and the chat completion with
the same translated body share one entry). Responses requests keep ``store`` at its default
(true), so each one also writes its stored response, as a default client's would. Rounds
rotate the variants so machine noise hits all of them; CPU per request is the gateway's
user+system time over the round.

Run one: ``python -m bench.bench_responses [--rounds N] [--round-s S] [--concurrency 1 16]``.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Mapping, Sequence
from contextlib import ExitStack

import anyio
import msgspec

from bench.gateway_process import (
    JSON_HEADERS,
    MODEL,
    NO_STORE,
    SEMANTIC_OFF,
    RoundTotals,
    Server,
    completion_body,
    cpu_seconds,
    gateway,
    machine_load,
    pct,
    questions,
    simulator,
)
from bench.lean_http import lean_closed_loop

ROUNDS = 4
ROUND_S = 2.0
WARMUP_S = 1.0
CONCURRENCY = (1, 16)
QUESTIONS = 128
VARIANTS = ("chat miss", "responses miss", "chat hit", "responses hit")


def responses_body(question: str) -> bytes:
    """A ``/v1/responses`` request whose translated chat body equals `completion_body`'s."""
    return msgspec.json.encode({"model": MODEL, "input": question, "temperature": 0})


async def _measure(
    gw: Server, *, rounds: int, round_s: float, concurrency: Sequence[int]
) -> dict[tuple[int, str], RoundTotals]:
    # Two question sets: the hit set is stored by the warm-up; the miss set, always sent with
    # no-store, is never written, so every read of it misses.
    qs = questions(2 * QUESTIONS)
    hits, misses = qs[:QUESTIONS], qs[QUESTIONS:]
    no_store = {**JSON_HEADERS, **NO_STORE}
    plans: Mapping[str, tuple[str, list[bytes], Mapping[str, str]]] = {
        "chat miss": ("/v1/chat/completions", [completion_body(q) for q in misses], no_store),
        "responses miss": ("/v1/responses", [responses_body(q) for q in misses], no_store),
        "chat hit": ("/v1/chat/completions", [completion_body(q) for q in hits], JSON_HEADERS),
        "responses hit": ("/v1/responses", [responses_body(q) for q in hits], JSON_HEADERS),
    }
    totals = {(c, v): RoundTotals() for c in concurrency for v in VARIANTS}
    for c in concurrency:
        for path, bodies, headers in plans.values():  # warm up; the hit variants fill the cache
            await lean_closed_loop(
                gw.url + path, bodies, headers=headers, concurrency=c, duration_s=WARMUP_S
            )
        for r in range(rounds):
            order = list(VARIANTS[r % len(VARIANTS) :] + VARIANTS[: r % len(VARIANTS)])
            for variant in order:
                path, bodies, headers = plans[variant]
                cpu_before, client_before = cpu_seconds(gw.pid), time.process_time()
                sample = await lean_closed_loop(
                    gw.url + path, bodies, headers=headers, concurrency=c, duration_s=round_s
                )
                totals[(c, variant)].add(
                    sample,
                    cpu_s=cpu_seconds(gw.pid) - cpu_before,
                    client_cpu_s=time.process_time() - client_before,
                )
    return totals


def _report(totals: dict[tuple[int, str], RoundTotals], concurrency: Sequence[int]) -> None:
    print(f"{'c':>3} {'variant':<16}{'req/s':>9}{'p50 ms':>9}{'p99 ms':>9}"
          f"{'CPU ms/req':>12}{'requests':>10}{'errors':>8}")  # fmt: skip
    for c in concurrency:
        for variant in VARIANTS:
            t = totals[(c, variant)]
            print(
                f"{c:>3} {variant:<16}{t.rate:>9.0f}{pct(t.latencies_ms, 0.5):>9.2f}"
                f"{pct(t.latencies_ms, 0.99):>9.2f}{t.per_request_ms(t.cpu_s):>12.3f}"
                f"{len(t.latencies_ms):>10}{t.errors:>8}"
            )
        for layer in ("miss", "hit"):
            ch, rs = totals[(c, f"chat {layer}")], totals[(c, f"responses {layer}")]
            added50 = pct(rs.latencies_ms, 0.5) - pct(ch.latencies_ms, 0.5)
            added_cpu = rs.per_request_ms(rs.cpu_s) - ch.per_request_ms(ch.cpu_s)
            ratio = rs.rate / ch.rate if ch.rate else 0.0
            print(f"{c:>3} responses-chat {layer:<5} p50 {added50:+.2f} ms, "
                  f"CPU {added_cpu:+.3f} ms/req, throughput {ratio:.1%} of chat")  # fmt: skip


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="bench_responses", description=__doc__)
    parser.add_argument("--rounds", type=int, default=ROUNDS, help="rounds per variant")
    parser.add_argument("--round-s", type=float, default=ROUND_S, help="seconds per round")
    parser.add_argument("--concurrency", type=int, nargs="+", default=list(CONCURRENCY))
    args = parser.parse_args([] if argv is None else argv)
    load = machine_load()
    with ExitStack() as stack:
        sim = stack.enter_context(simulator())
        gw = stack.enter_context(gateway(sim.url, SEMANTIC_OFF))
        totals = anyio.run(
            lambda: _measure(
                gw, rounds=args.rounds, round_s=args.round_s, concurrency=args.concurrency
            ),
            backend_options={"use_uvloop": True},
        )
    print(
        f"/v1/responses vs /v1/chat/completions on one gateway (model {MODEL}, semantic cache "
        f"off, simulator at 0 ms); {args.rounds} rotated rounds x {args.round_s:g} s per variant"
    )
    print(f"machine: {load} before the run")
    _report(totals, args.concurrency)


if __name__ == "__main__":
    main(sys.argv[1:])
