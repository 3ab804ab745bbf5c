"""Semantic index: search latency at 1k/10k/100k entries x 384 dims, add rate, memory.

Searches use random unit queries against random unit rows in one partition (the worst case:
every row is scanned and live). ``k=4`` is the cache's path; ``min_score`` is the filtered
path. "f32" is a plain float32 ``matrix @ query`` of the same size, the alternative the
bfloat16 storage replaces; the last line is the largest score error bfloat16 introduces.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import numpy.typing as npt

from cache.semantic_index import SemanticIndex

DIM = 384
SIZES = (1_000, 10_000, 100_000)
QUERIES = 200
PART = ("tenant", "tier", "all-MiniLM-L6-v2")


def _unit_rows(rng: np.random.Generator, n: int) -> npt.NDArray[np.float32]:
    rows = rng.standard_normal((n, DIM), dtype=np.float32)
    rows /= np.linalg.norm(rows, axis=1, keepdims=True)
    return rows


def _rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def _percentiles(samples: list[float]) -> tuple[float, float]:
    ms = np.asarray(samples) * 1e3
    return float(np.percentile(ms, 50)), float(np.percentile(ms, 99))


def _fill(index: SemanticIndex, n: int, rng: np.random.Generator) -> float:
    """Add n random rows in chunks (keeps the generator's temporaries small); return adds/s."""
    spent = 0.0
    for start in range(0, n, 10_000):
        rows = _unit_rows(rng, min(10_000, n - start))
        began = time.perf_counter()
        for i, row in enumerate(rows):
            index.add(str(start + i), row, PART)
        spent += time.perf_counter() - began
    return n / spent


def main() -> None:
    rng = np.random.default_rng(7)
    queries = _unit_rows(rng, QUERIES)
    print(
        f"{'entries':>8}  {'k=4 p50':>8}  {'k=4 p99':>8}  {'min p50':>8}  {'min p99':>8}  "
        f"{'f32 p50':>8}  {'f32 p99':>8}  {'adds/s':>8}"
    )
    for n in SIZES:
        rss_before = _rss_mb()
        index = SemanticIndex(DIM, n)
        adds = _fill(index, n, rng)
        rss_index = _rss_mb() - rss_before
        nbytes = index.nbytes
        search, filtered = [], []
        for q in queries:
            began = time.perf_counter()
            index.search(q, PART, k=4)
            search.append(time.perf_counter() - began)
            began = time.perf_counter()
            index.search(q, PART, k=4, min_score=0.92)
            filtered.append(time.perf_counter() - began)
        del index
        # The float32 alternative: a plain matrix of the same size, one matvec per query.
        full = _unit_rows(rng, n)
        plain = []
        for q in queries:
            began = time.perf_counter()
            full @ q
            plain.append(time.perf_counter() - began)
        del full
        s50, s99 = _percentiles(search)
        m50, m99 = _percentiles(filtered)
        f50, f99 = _percentiles(plain)
        print(
            f"{n:>8}  {s50:>8.2f}  {s99:>8.2f}  {m50:>8.2f}  {m99:>8.2f}  {f50:>8.2f}  "
            f"{f99:>8.2f}  {adds:>8.0f}"
        )
        if n == SIZES[-1]:
            print(
                f"index at {n} entries: arrays {nbytes / 2**20:.1f} MB, "
                f"RSS growth {rss_index:.1f} MB (float32 rows would be "
                f"{n * DIM * 4 / 2**20:.1f} MB)"
            )
    print(f"largest bfloat16 score error over 10k rows: {_bf16_error(rng, queries):.1e}")


def _bf16_error(rng: np.random.Generator, queries: npt.NDArray[np.float32]) -> float:
    rows = _unit_rows(rng, 10_000)
    index = SemanticIndex(DIM, len(rows))
    for i, row in enumerate(rows):
        index.add(str(i), row, PART)
    worst = 0.0
    for q in queries[:20]:
        for entry_id, score in index.search(q, PART, k=len(rows)):
            worst = max(worst, abs(score - float(rows[int(entry_id)] @ q)))
    return worst


if __name__ == "__main__":
    main()
