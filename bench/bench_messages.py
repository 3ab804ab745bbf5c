"""The overhead of ``/v1/messages`` next to ``/v1/chat/completions``, in one sitting.

Same set-up as `bench.bench_overhead` (the simulator at 0 ms in its own process, one
`frugal serve` process, semantic cache off, interleaved rounds), with the gateway's
Anthropic provider pointed at the simulator too. Variants, each with its own bodies:

- ``chat-direct`` / ``msgs-direct``: straight to the simulator's ``/v1/chat/completions``
  (``gpt-4o-mini``) and ``/v1/messages`` (``claude-haiku-4-5``);
- ``chat``: Frugal's ``/v1/chat/completions`` to ``gpt-4o-mini``;
- ``msgs-native``: Frugal's ``/v1/messages`` to ``claude-haiku-4-5`` (byte-faithful);
- ``msgs-transl``: Frugal's ``/v1/messages`` to ``gpt-4o-mini`` (translated both ways).

``--mode miss`` sends ``x-frugal-cache: no-store`` (every request goes upstream); ``--mode
hit`` lets the exact cache fill during the warm-up, so rounds are exact hits (the direct
variants still go upstream: they are the yardstick, not a comparison).

Run: ``python -m bench.bench_messages [--mode miss|hit] [--rounds N] [--round-s S]
[--concurrency 1 16]``.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from contextlib import ExitStack
from functools import partial

import anyio
import msgspec

from bench.gateway_process import (
    API_KEY,
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

CLAUDE = "claude-haiku-4-5"
GPT = "gpt-4o-mini"
QUESTIONS = 256
WARMUP_S = 2.0
ANTHROPIC_HEADERS = {
    "x-api-key": API_KEY,
    "anthropic-version": "2023-06-01",
    "content-type": "application/json",
}


def messages_body(question: str, model: str) -> bytes:
    """An Anthropic ``/v1/messages`` request body for one user question."""
    return msgspec.json.encode(
        {
            "model": model,
            "max_tokens": 256,
            "temperature": 0,
            "messages": [{"role": "user", "content": question}],
        }
    )


async def _measure(
    sim: Server, gw: Server, *, mode: str, rounds: int, round_s: float, concurrency: Sequence[int]
) -> dict[tuple[int, str], RoundTotals]:
    asked = questions(QUESTIONS)
    chat = [completion_body(q, model=GPT) for q in asked]
    native = [messages_body(q, CLAUDE) for q in asked]
    translated = [messages_body(q, GPT) for q in asked]
    cache = NO_STORE if mode == "miss" else {}
    targets = {
        "chat-direct": Target(f"{sim.url}/v1/chat/completions", JSON_HEADERS, sim.pid, chat),
        "msgs-direct": Target(f"{sim.url}/v1/messages", ANTHROPIC_HEADERS, sim.pid, native),
        "chat": Target(f"{gw.url}/v1/chat/completions", {**JSON_HEADERS, **cache}, gw.pid, chat),
        "msgs-native": Target(
            f"{gw.url}/v1/messages", {**ANTHROPIC_HEADERS, **cache}, gw.pid, native
        ),
        "msgs-transl": Target(
            f"{gw.url}/v1/messages", {**ANTHROPIC_HEADERS, **cache}, gw.pid, translated
        ),
    }
    return await rotated_rounds(
        targets, chat, rounds=rounds, round_s=round_s, concurrency=concurrency, warmup_s=WARMUP_S
    )


def _report(totals: dict[tuple[int, str], RoundTotals], concurrency: Sequence[int]) -> None:
    print(f"{'c':>3} {'variant':<12}{'req/s':>9}{'p50 ms':>9}{'p99 ms':>9}"
          f"{'CPU ms/req':>12}{'requests':>10}{'errors':>8}")  # fmt: skip
    for c in concurrency:
        for variant in ("chat-direct", "chat", "msgs-direct", "msgs-native", "msgs-transl"):
            t = totals[(c, variant)]
            print(
                f"{c:>3} {variant:<12}{t.rate:>9.0f}{pct(t.latencies_ms, 0.5):>9.2f}"
                f"{pct(t.latencies_ms, 0.99):>9.2f}{t.per_request_ms(t.cpu_s):>12.3f}"
                f"{len(t.latencies_ms):>10}{t.errors:>8}"
            )


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="bench_messages", description=__doc__)
    parser.add_argument("--mode", choices=("miss", "hit"), default="miss")
    parser.add_argument("--rounds", type=int, default=3, help="rounds per variant")
    parser.add_argument("--round-s", type=float, default=3.0, help="seconds per round")
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 16])
    args = parser.parse_args([] if argv is None else argv)
    load = machine_load()
    with ExitStack() as stack:
        sim = stack.enter_context(simulator())
        settings = {**SEMANTIC_OFF, "ANTHROPIC_BASE_URL": sim.url, "ANTHROPIC_API_KEY": API_KEY}
        gw = stack.enter_context(gateway(sim.url, settings))
        measure = partial(
            _measure, sim, gw, mode=args.mode, rounds=args.rounds, round_s=args.round_s,
            concurrency=args.concurrency,
        )  # fmt: skip
        totals = anyio.run(measure, backend_options={"use_uvloop": True})
    print(
        f"/v1/messages vs /v1/chat/completions, cache {args.mode}, semantic cache off, "
        f"simulator at 0 ms; {args.rounds} interleaved rounds x {args.round_s:g} s per variant"
    )
    print(f"machine: {load} before the run")
    _report(totals, args.concurrency)


if __name__ == "__main__":
    main(sys.argv[1:])
