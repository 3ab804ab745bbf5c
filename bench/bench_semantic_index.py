"""Semantic index: search latency, recall against brute force, add rate and memory.

The data imitates sentence embeddings: rows share a common direction (MiniLM vectors of
unrelated sentences still score ~0.1-0.3), fall into topics (cosine ~0.55-0.85 to the topic
centre) and a fifth of them are paraphrases of an earlier row (cosine 0.88-0.99). Half the
queries paraphrase a stored row (the cache's hits), half are new members of a topic (its
misses). "recall@1" is how often the index's top hit is brute-force float32's top hit, over
queries whose true best cosine is >= 0.85 (the range the cache acts on) and over all queries;
"err" is the largest top-1 score error over the former; "cpu p99" counts only this thread's
CPU time, i.e. leaves out preemption by other processes. "f32" is a plain float32
``matrix @ query``, what the two-stage search replaces. BLAS runs single-threaded, as it does
once MiniLM is loaded. Memory is measured in fresh child processes: the index alone, and the
index next to a loaded MiniLM (the production shape).
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import numpy.typing as npt

from agent.embedders.blas_threads import limit_blas_threads
from cache.semantic_index import SemanticIndex

DIM = 384
SIZES = (1_000, 10_000, 100_000)
QUERIES = 400
MEMORY_ENTRIES = 100_000
PART = ("tenant", "tier", "all-MiniLM-L6-v2")

F32 = npt.NDArray[np.float32]


def _normalise(rows: F32) -> F32:
    rows /= np.linalg.norm(rows, axis=-1, keepdims=True)
    return rows


def _perturb(rng: np.random.Generator, rows: F32, low: float, high: float) -> F32:
    """Unit rows at a cosine drawn from [low, high) to the given unit rows."""
    noise = rng.standard_normal(rows.shape, dtype=np.float32)
    noise -= np.sum(noise * rows, axis=1, keepdims=True) * rows
    _normalise(noise)
    cos = rng.uniform(low, high, (rows.shape[0], 1)).astype(np.float32)
    return _normalise(cos * rows + np.sqrt(1 - cos * cos) * noise)


class _Corpus:
    """Topic centres around a shared direction; rows and queries drawn from them."""

    def __init__(self, rng: np.random.Generator, topics: int) -> None:
        self.rng = rng
        shared = rng.standard_normal(DIM, dtype=np.float32)
        centres = rng.standard_normal((topics, DIM), dtype=np.float32)
        self.centres = _normalise(_normalise(centres) + 0.6 * shared / np.linalg.norm(shared))

    def rows(self, n: int) -> F32:
        picks = self.rng.integers(0, len(self.centres), n)
        out = _perturb(self.rng, self.centres[picks], 0.55, 0.85)
        dups = np.flatnonzero(self.rng.random(n) < 0.2)[1:]
        sources = (self.rng.random(dups.size) * dups).astype(np.intp)  # an earlier row
        out[dups] = _perturb(self.rng, out[sources], 0.88, 0.99)
        return out

    def queries(self, stored: F32, n: int) -> F32:
        half = n // 2
        hits = _perturb(self.rng, stored[self.rng.integers(0, len(stored), half)], 0.85, 0.99)
        return np.concatenate([hits, self.rows(n - half)])


def _rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def _percentiles(samples: list[float]) -> tuple[float, float]:
    ms = np.asarray(samples) * 1e3
    return float(np.percentile(ms, 50)), float(np.percentile(ms, 99))


def _fill(index: SemanticIndex, rows: F32, first: int = 0) -> float:
    """Add rows with cache-like 32-hex ids; return adds/s."""
    began = time.perf_counter()
    for i, row in enumerate(rows, first):
        index.add(f"{i:032x}", row, PART)
    return len(rows) / (time.perf_counter() - began)


def _row_sizes(n: int) -> str:
    rng = np.random.default_rng(n)
    corpus = _Corpus(rng, max(10, n // 40))
    rows = corpus.rows(n)
    queries = corpus.queries(rows, QUERIES)
    index = SemanticIndex(DIM, n)
    adds = _fill(index, rows)
    truth = rows @ queries.T  # (n, queries): brute force, float32
    best, best_score = np.argmax(truth, axis=0), np.max(truth, axis=0)
    search, cpu, filtered = [], [], []
    hits, worst = np.zeros(QUERIES, dtype=bool), 0.0
    for j, q in enumerate(queries):
        began, began_cpu = time.perf_counter(), time.thread_time()
        found = index.search(q, PART, k=4)
        search.append(time.perf_counter() - began)
        cpu.append(time.thread_time() - began_cpu)
        began = time.perf_counter()
        index.search(q, PART, k=4, min_score=0.92)
        filtered.append(time.perf_counter() - began)
        hits[j] = int(found[0][0], 16) == best[j]
        if hits[j] and best_score[j] >= 0.85:
            worst = max(worst, abs(found[0][1] - float(best_score[j])))
    plain = []
    for q in queries:
        began = time.perf_counter()
        rows @ q
        plain.append(time.perf_counter() - began)
    close = best_score >= 0.85
    s50, s99 = _percentiles(search)
    _, c99 = _percentiles(cpu)
    m50, m99 = _percentiles(filtered)
    f50, f99 = _percentiles(plain)
    if n == SIZES[-1]:
        _offload_cost(index, queries)
    return (
        f"{n:>8}  {s50:>7.2f}  {s99:>7.2f}  {c99:>7.2f}  {m50:>7.2f}  {m99:>7.2f}"
        f"  {f50:>7.2f}  {f99:>7.2f}"
        f"  {hits[close].mean():>5.1%} ({close.sum():>3})  {hits.mean():>6.1%}  {worst:>7.1e}"
        f"  {adds:>7.0f}  {index.nbytes / 2**20:>6.1f}"
    )


def _offload_cost(index: SemanticIndex, queries: F32) -> None:
    """What `SemanticCache`'s worker-thread offload adds to a search (printed first)."""
    import anyio

    async def measure() -> None:
        inline, offloaded = [], []
        for q in queries:
            began = time.perf_counter()
            index.search(q, PART)
            inline.append(time.perf_counter() - began)
            began = time.perf_counter()
            await anyio.to_thread.run_sync(index.search, q, PART)
            offloaded.append(time.perf_counter() - began)
        i50, i99 = _percentiles(inline)
        o50, o99 = _percentiles(offloaded)
        print(
            f"  at {len(index)} entries: inline p50/p99 {i50:.2f}/{i99:.2f} ms, "
            f"to_thread p50/p99 {o50:.2f}/{o99:.2f} ms"
        )

    anyio.run(measure)


def memory_child(with_minilm: bool) -> None:
    """Print RSS milestones for 100k entries, optionally next to a loaded MiniLM (run in a
    fresh process by `main`, so nothing else has touched its heap)."""
    import anyio

    async def measure() -> None:
        marks = [f"python+numpy {_rss_mb():.0f}"]
        if with_minilm:
            from agent.embedders import MiniLMEmbedder

            async with MiniLMEmbedder.load() as embedder:
                await embedder.embed(["warm up the model once"])
                marks.append(f"+MiniLM {_rss_mb():.0f}")
                _fill_and_search(marks, embedder.dim)
        else:
            _fill_and_search(marks, DIM)
        print("  RSS MB: " + ", ".join(marks))

    anyio.run(measure)


def _fill_and_search(marks: list[str], dim: int) -> None:
    rng = np.random.default_rng(1)
    corpus = _Corpus(rng, MEMORY_ENTRIES // 40)
    index = SemanticIndex(dim, MEMORY_ENTRIES)
    # Small batches, as from an embedder: big temporaries would inflate RSS by fragmentation.
    for start in range(0, MEMORY_ENTRIES, 50):
        _fill(index, corpus.rows(50), start)
    index.search(corpus.rows(1)[0], PART)
    marks.append(f"+{MEMORY_ENTRIES // 1000}k entries {_rss_mb():.0f}")


def main() -> None:
    limit_blas_threads(1)
    print(
        f"{'entries':>8}  {'k4 p50':>7}  {'k4 p99':>7}  {'cpu p99':>7}  {'min p50':>7}"
        f"  {'min p99':>7}  {'f32 p50':>7}  {'f32 p99':>7}  {'r@1>=.85 (n)':>13}"
        f"  {'r@1 all':>6}  {'err':>7}  {'adds/s':>7}  {'MB':>6}"
    )
    for n in SIZES:
        print(_row_sizes(n), flush=True)
    root = Path(__file__).resolve().parent.parent
    for with_minilm in (False, True):
        label = "index + MiniLM" if with_minilm else "index alone"
        print(f"{label}, {MEMORY_ENTRIES} entries (fresh process):", flush=True)
        code = f"from bench.bench_semantic_index import memory_child; memory_child({with_minilm})"
        subprocess.run([sys.executable, "-c", code], cwd=root, check=True)


if __name__ == "__main__":
    main()
