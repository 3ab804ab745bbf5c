"""Streaming: time to first token and the gaps between tokens, straight to the simulator versus
through Frugal's ``/v1/chat/completions`` (``stream: true``), in one sitting.

The simulator paces every answer (a fixed time to first token, then a fixed token rate, a fixed
answer length); the gateway (one `frugal serve` process, semantic cache off, every request sent
with ``x-frugal-cache: no-store`` and a concrete model) relays it. Rounds alternate the two
variants. TTFT is measured from sending the request to the arrival of the first SSE line that
carries answer text; a gap is the time between two such lines. A proxy that buffers shows as
bunched tokens (gaps near zero followed by long ones) where the direct stream has even gaps.

Run one: ``python -m bench.bench_streaming [--rounds N] [--streams S] [--ttft-ms T] ...``.
"""

from __future__ import annotations

import argparse
import itertools
import sys
import time
from collections.abc import Mapping, Sequence
from functools import partial

import aiohttp
import anyio
import msgspec

from bench.gateway_process import (
    JSON_HEADERS,
    MODEL,
    NO_STORE,
    SEMANTIC_OFF,
    completion_body,
    gateway,
    http_session,
    machine_load,
    pct,
    questions,
    simulator,
)

ROUNDS = 5
STREAMS = 20
CONCURRENCY = 1
TTFT_MS = 20.0
TOKENS_PER_S = 200.0
OUTPUT_TOKENS = 40
VARIANTS = ("direct", "frugal")
BUNCHED = 0.25
"""A gap shorter than this share of the nominal token interval counts as bunched."""
TARGET_TTFT_MS = 1.0


class _Delta(msgspec.Struct):
    content: str | None = None


class _Choice(msgspec.Struct):
    delta: _Delta | None = None


class _Chunk(msgspec.Struct):
    choices: list[_Choice] = []


class _Totals:
    def __init__(self) -> None:
        self.ttft_ms: list[float] = []
        self.gaps_ms: list[float] = []
        self.errors = 0


async def _stream_once(
    session: aiohttp.ClientSession,
    url: str,
    body: bytes,
    headers: Mapping[str, str],
    decoder: msgspec.json.Decoder[_Chunk],
) -> tuple[float, list[float]] | None:
    """One stream's TTFT and token gaps in ms; None when it failed or carried no text."""
    sent = time.perf_counter()
    arrivals: list[float] = []
    async with session.post(url, data=body, headers=headers) as response:
        if response.status != 200:
            await response.read()
            return None
        async for line in response.content:
            if not line.startswith(b"data: {"):
                continue
            now = time.perf_counter()  # arrival time first: decoding is the client's cost
            chunk = decoder.decode(line[6:])
            if chunk.choices and chunk.choices[0].delta and chunk.choices[0].delta.content:
                arrivals.append(now)
    if not arrivals:
        return None
    gaps = [(b - a) * 1000 for a, b in itertools.pairwise(arrivals)]
    return (arrivals[0] - sent) * 1000, gaps


async def _round(
    session: aiohttp.ClientSession,
    url: str,
    bodies: Sequence[bytes],
    headers: Mapping[str, str],
    *,
    streams: int,
    concurrency: int,
    total: _Totals,
) -> None:
    decoder = msgspec.json.Decoder(_Chunk)
    pending = iter(range(streams))

    async def worker() -> None:
        for i in pending:
            try:
                found = await _stream_once(session, url, bodies[i % len(bodies)], headers, decoder)
            except aiohttp.ClientError:
                found = None
            if found is None:
                total.errors += 1
                continue
            total.ttft_ms.append(found[0])
            total.gaps_ms += found[1]

    async with anyio.create_task_group() as group:
        for _ in range(concurrency):
            group.start_soon(worker)


async def _measure(
    sim_url: str, gw_url: str, *, rounds: int, streams: int, concurrency: int
) -> dict[str, _Totals]:
    bodies = [completion_body(q, stream=True) for q in questions(streams)]
    targets = {
        "direct": (f"{sim_url}/v1/chat/completions", JSON_HEADERS),
        "frugal": (f"{gw_url}/v1/chat/completions", {**JSON_HEADERS, **NO_STORE}),
    }
    totals = {v: _Totals() for v in VARIANTS}
    async with http_session(concurrency) as session:
        for url, headers in targets.values():  # fill the pool, pay lazy imports
            await _round(session, url, bodies, headers, streams=3, concurrency=concurrency,
                         total=_Totals())  # fmt: skip
        for r in range(rounds):
            for variant in VARIANTS if r % 2 == 0 else VARIANTS[::-1]:
                url, headers = targets[variant]
                await _round(session, url, bodies, headers, streams=streams,
                             concurrency=concurrency, total=totals[variant])  # fmt: skip
    return totals


def _report(totals: dict[str, _Totals], tokens_per_s: float) -> None:
    nominal = 1000 / tokens_per_s
    print(f"{'variant':<8}{'streams':>8}{'TTFT p50':>10}{'TTFT p99':>10}{'gap p10':>9}"
          f"{'gap p50':>9}{'gap p90':>9}{'gap p99':>9}{'bunched':>9}{'errors':>8}")  # fmt: skip
    for variant in VARIANTS:
        t = totals[variant]
        bunched = sum(g < BUNCHED * nominal for g in t.gaps_ms) / max(1, len(t.gaps_ms))
        print(
            f"{variant:<8}{len(t.ttft_ms):>8}{pct(t.ttft_ms, 0.5):>10.2f}"
            f"{pct(t.ttft_ms, 0.99):>10.2f}{pct(t.gaps_ms, 0.1):>9.2f}{pct(t.gaps_ms, 0.5):>9.2f}"
            f"{pct(t.gaps_ms, 0.9):>9.2f}{pct(t.gaps_ms, 0.99):>9.2f}{bunched:>9.1%}{t.errors:>8}"
        )
    d, f = totals["direct"], totals["frugal"]
    added50 = pct(f.ttft_ms, 0.5) - pct(d.ttft_ms, 0.5)
    added99 = pct(f.ttft_ms, 0.99) - pct(d.ttft_ms, 0.99)
    gap_ratio = pct(f.gaps_ms, 0.5) / pct(d.gaps_ms, 0.5) if d.gaps_ms else 0.0
    print(f"{'added':<8}{'':>8}{added50:>+10.2f}{added99:>+10.2f}"
          f"   frugal/direct gap p50 {gap_ratio:.2f}x")  # fmt: skip
    verdict = "met" if added50 <= TARGET_TTFT_MS else "MISSED"
    print(f"target TTFT overhead <= {TARGET_TTFT_MS:g} ms p50: {verdict} (+{added50:.2f} ms)")


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="bench_streaming", description=__doc__)
    parser.add_argument("--rounds", type=int, default=ROUNDS, help="rounds per variant")
    parser.add_argument("--streams", type=int, default=STREAMS, help="streams per round")
    parser.add_argument("--concurrency", type=int, default=CONCURRENCY)
    parser.add_argument("--ttft-ms", type=float, default=TTFT_MS, help="simulator TTFT")
    parser.add_argument("--tokens-per-s", type=float, default=TOKENS_PER_S)
    parser.add_argument("--output-tokens", type=int, default=OUTPUT_TOKENS)
    args = parser.parse_args([] if argv is None else argv)
    load = machine_load()
    pace = [
        "--ttft-ms", str(args.ttft_ms), "--tokens-per-s", str(args.tokens_per_s),
        "--output-tokens", str(args.output_tokens),
    ]  # fmt: skip
    with simulator(pace) as sim, gateway(sim.url, SEMANTIC_OFF) as gw:
        measure = partial(
            _measure, sim.url, gw.url, rounds=args.rounds, streams=args.streams,
            concurrency=args.concurrency,
        )  # fmt: skip
        totals = anyio.run(measure, backend_options={"use_uvloop": True})
    print(
        f"streamed /v1/chat/completions (model {MODEL}, no-store, semantic cache off); simulator: "
        f"{args.ttft_ms:g} ms TTFT, {args.tokens_per_s:g} tokens/s "
        f"(gap {1000 / args.tokens_per_s:.1f} ms), {args.output_tokens} tokens; concurrency "
        f"{args.concurrency}; {args.rounds} interleaved rounds x {args.streams} streams; ms; "
        f"bunched = gaps under {BUNCHED:.0%} of the nominal gap"
    )
    print(f"machine: {load} before the run")
    _report(totals, args.tokens_per_s)


if __name__ == "__main__":
    main(sys.argv[1:])
