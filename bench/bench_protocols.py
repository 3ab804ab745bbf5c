"""The three ``/v1`` protocols side by side on one gateway, in one sitting: chat
completions, Anthropic Messages (native to an Anthropic model, and translated to an
OpenAI-compatible one) and Responses, each on a cache miss and on an exact hit.

The simulator runs at 0 ms in its own process (both wires); one `frugal serve` process
points both providers at it, semantic cache off. Misses are questions sent with
``x-frugal-cache: no-store`` (every request goes upstream); hits repeat temperature-0
requests the warm-up stored. Responses requests keep ``store`` at its default (true), so each
also writes its stored response, as a default client's would. The ``direct`` variants go
straight to the simulator: the yardstick of a miss. Rounds rotate the variants so machine
noise hits all of them; CPU per request is the serving process's user+system time.

Run: ``python -m bench.bench_protocols [--rounds N] [--round-s S] [--concurrency 1 16]``.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Mapping, Sequence
from contextlib import ExitStack

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
QUESTIONS = 128
WARMUP_S = 1.5
ANTHROPIC_HEADERS = {
    "x-api-key": API_KEY,
    "anthropic-version": "2023-06-01",
    "content-type": "application/json",
}
PROTOCOLS = ("chat", "msgs-native", "msgs-transl", "responses")


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


def responses_body(question: str) -> bytes:
    """A ``/v1/responses`` request whose translated chat body equals `completion_body`'s."""
    return msgspec.json.encode({"model": GPT, "input": question, "temperature": 0})


def _targets(sim: Server, gw: Server, asked: Sequence[str], mode: str) -> dict[str, Target]:
    chat = [completion_body(q, model=GPT) for q in asked]
    native = [messages_body(q, CLAUDE) for q in asked]
    cache: Mapping[str, str] = NO_STORE if mode == "miss" else {}
    json_h, anthropic_h = {**JSON_HEADERS, **cache}, {**ANTHROPIC_HEADERS, **cache}
    targets = {
        f"chat {mode}": Target(f"{gw.url}/v1/chat/completions", json_h, gw.pid, chat),
        f"msgs-native {mode}": Target(f"{gw.url}/v1/messages", anthropic_h, gw.pid, native),
        f"msgs-transl {mode}": Target(
            f"{gw.url}/v1/messages", anthropic_h, gw.pid, [messages_body(q, GPT) for q in asked]
        ),
        f"responses {mode}": Target(
            f"{gw.url}/v1/responses", json_h, gw.pid, [responses_body(q) for q in asked]
        ),
    }
    if mode == "miss":
        targets["chat direct"] = Target(
            f"{sim.url}/v1/chat/completions", JSON_HEADERS, sim.pid, chat
        )
        targets["msgs direct"] = Target(
            f"{sim.url}/v1/messages", ANTHROPIC_HEADERS, sim.pid, native
        )
    return targets


async def _measure(
    sim: Server, gw: Server, *, rounds: int, round_s: float, concurrency: Sequence[int]
) -> dict[tuple[int, str], RoundTotals]:
    # Two question sets: the hit set is stored by its warm-up; the miss set, always sent with
    # no-store, is never written, so every read of it misses.
    qs = questions(2 * QUESTIONS)
    targets = {
        **_targets(sim, gw, qs[QUESTIONS:], "miss"),
        **_targets(sim, gw, qs[:QUESTIONS], "hit"),
    }
    return await rotated_rounds(
        targets, [], rounds=rounds, round_s=round_s, concurrency=concurrency, warmup_s=WARMUP_S
    )


def _report(totals: dict[tuple[int, str], RoundTotals], concurrency: Sequence[int]) -> None:
    print(f"{'c':>3} {'variant':<18}{'req/s':>9}{'p50 ms':>9}{'p99 ms':>9}"
          f"{'CPU ms/req':>12}{'vs chat':>9}{'requests':>10}{'errors':>8}")  # fmt: skip
    for c in concurrency:
        for mode in ("miss", "hit"):
            chat = totals[(c, f"chat {mode}")]
            names = [f"{p} {mode}" for p in PROTOCOLS]
            if mode == "miss":
                names = ["chat direct", "msgs direct", *names]
            for name in names:
                t = totals[(c, name)]
                added = t.per_request_ms(t.cpu_s) - chat.per_request_ms(chat.cpu_s)
                vs_chat = "" if name.endswith("direct") else f"{added:+.3f}"
                print(
                    f"{c:>3} {name:<18}{t.rate:>9.0f}{pct(t.latencies_ms, 0.5):>9.2f}"
                    f"{pct(t.latencies_ms, 0.99):>9.2f}{t.per_request_ms(t.cpu_s):>12.3f}"
                    f"{vs_chat:>9}{len(t.latencies_ms):>10}{t.errors:>8}"
                )


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="bench_protocols", description=__doc__)
    parser.add_argument("--rounds", type=int, default=3, help="rounds per variant")
    parser.add_argument("--round-s", type=float, default=2.0, help="seconds per round")
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 16])
    args = parser.parse_args([] if argv is None else argv)
    load = machine_load()
    with ExitStack() as stack:
        sim = stack.enter_context(simulator())
        settings = {**SEMANTIC_OFF, "ANTHROPIC_BASE_URL": sim.url, "ANTHROPIC_API_KEY": API_KEY}
        gw = stack.enter_context(gateway(sim.url, settings))
        totals = anyio.run(
            lambda: _measure(
                sim, gw, rounds=args.rounds, round_s=args.round_s, concurrency=args.concurrency
            ),
            backend_options={"use_uvloop": True},
        )
    print(
        "/v1/chat/completions, /v1/messages and /v1/responses on one gateway (semantic cache "
        f"off, simulator at 0 ms); {args.rounds} rotated rounds x {args.round_s:g} s per variant;"
        " 'vs chat' = gateway CPU ms/request minus chat completions' in the same mode"
    )
    print(f"machine: {load} before the run")
    _report(totals, args.concurrency)


if __name__ == "__main__":
    main(sys.argv[1:])
