"""The stage-1 Hamming passes: the C kernels give numpy's answers, and refuse bad arrays."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cache import hamming
from cache.hamming import NativePasses, NumpyPasses, hamming_passes, native_level

WORDS = 6


def native(capacity: int) -> NativePasses:
    passes = hamming_passes(capacity, capacity)
    assert isinstance(passes, NativePasses), "the C kernels were not built (make .venv)"
    return passes


def codes(rng: np.random.Generator, rows: int) -> np.ndarray:
    return rng.integers(0, 2**64, (WORDS, rows), dtype=np.uint64, endpoint=False)


def test_the_kernels_are_built_and_use_the_best_popcount_the_cpu_has() -> None:
    # The install builds them (setup.py); a checkout without them would measure numpy only.
    level = native_level()
    assert level is not None
    flags = Path("/proc/cpuinfo").read_text()
    assert level == (2 if "avx512_vpopcntdq" in flags and "avx512bw" in flags else 1)


@pytest.mark.parametrize("rows", [1, 7, 8, 9, 2047, 2048, 2049, 70_001])
def test_distances_match_numpy(rows: int) -> None:
    rng = np.random.default_rng(rows)
    stored, query = codes(rng, rows + 5), codes(rng, 1)[:, 0].copy()
    high = rows  # the capacity (row stride) is larger than the rows in use
    mine, theirs = np.zeros(high, np.uint16), np.zeros(high, np.uint16)
    native(rows + 5).distances(stored, high, query, mine)
    NumpyPasses(rows + 5).distances(stored, high, query, theirs)
    assert np.array_equal(mine, theirs)
    assert int(mine.max()) <= 64 * WORDS


@pytest.mark.parametrize("rows", [1, 9, 2048, 2049, 100_003])
@pytest.mark.parametrize("cutoff", [0, 20, 32, 64, 99])
def test_near_first_word_matches_numpy_with_and_without_partitions(rows: int, cutoff: int) -> None:
    rng = np.random.default_rng(rows + cutoff)
    first = codes(rng, rows)[0].copy()
    first[rows // 2] = np.uint64(12345)  # one exact match, so cutoff 0 finds a row
    parts = rng.integers(1, 4, rows).astype(np.int32)
    fast, slow = native(rows), NumpyPasses(max(rows, 1 << 16))
    for part_filter in (None, parts):
        mine = fast.near_first_word(first, np.uint64(12345), cutoff, part_filter, 2).copy()
        theirs = slow.near_first_word(first, np.uint64(12345), cutoff, part_filter, 2)
        assert np.array_equal(mine, theirs)
        assert np.all(np.diff(mine) > 0)
    if cutoff >= 64:
        assert fast.near_first_word(first, np.uint64(0), cutoff, None, 0).size == rows


def test_row_distances_match_numpy() -> None:
    rng = np.random.default_rng(3)
    rows = np.ascontiguousarray(codes(rng, 5000).T)
    query = codes(rng, 1)[:, 0].copy()
    slots = rng.choice(5000, 1200, replace=False).astype(np.intp)
    mine = native(5000).row_distances(rows, slots, query)
    assert np.array_equal(mine, NumpyPasses(5000).row_distances(rows, slots, query))
    assert native(5000).row_distances(rows, slots[:0], query).size == 0


def test_bad_arrays_are_refused_before_c_reads_them() -> None:
    rng = np.random.default_rng(4)
    stored, query = codes(rng, 100), codes(rng, 1)[:, 0].copy()
    passes = native(100)
    with pytest.raises(TypeError):
        passes.distances(stored.astype(np.int64), 100, query, np.zeros(100, np.uint16))
    with pytest.raises(TypeError):
        passes.distances(stored[:, ::2], 50, query, np.zeros(50, np.uint16))
    with pytest.raises(ValueError):
        passes.distances(stored, 100, query, np.zeros(99, np.uint16))
    with pytest.raises(ValueError):
        passes.distances(stored, 100, query[:5].copy(), np.zeros(100, np.uint16))
    with pytest.raises(ValueError):
        native(10).near_first_word(stored[0].copy(), np.uint64(1), 8, None, 0)  # > capacity
    with pytest.raises(ValueError):
        passes.near_first_word(stored[0].copy(), np.uint64(1), 8, np.zeros(5, np.int32), 1)
    rows = np.ascontiguousarray(stored.T)
    with pytest.raises(ValueError):
        passes.row_distances(rows, np.array([0, 100]), query)
    with pytest.raises(ValueError):
        passes.row_distances(rows, np.array([-1]), query)


def test_without_the_kernels_the_index_gets_numpy(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(hamming, "_LIBRARY", None)
    assert native_level() is None
    assert hamming_passes(10, 10).kind == "numpy"
    assert hamming_passes(10, 10, native=False).kind == "numpy"


@settings(max_examples=60, deadline=None)
@given(
    rows=st.integers(1, 5000),
    words=st.integers(1, 8),
    cutoff=st.integers(0, 64),
    seed=st.integers(0, 2**32 - 1),
)
def test_any_shape_gives_numpys_answers(rows: int, words: int, cutoff: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    # Few distinct words, so near rows and exact ties are common at every cutoff.
    stored = rng.choice(rng.integers(0, 2**64, 8, dtype=np.uint64, endpoint=False), (words, rows))
    query = stored[:, rng.integers(0, rows)].copy()
    mine, theirs = np.zeros(rows, np.uint16), np.zeros(rows, np.uint16)
    native(rows).distances(stored, rows, query, mine)
    NumpyPasses(rows).distances(stored, rows, query, theirs)
    assert np.array_equal(mine, theirs)
    parts = rng.integers(1, 3, rows).astype(np.int32)
    near = native(rows).near_first_word(stored[0].copy(), query[0], cutoff, parts, 1)
    expected = NumpyPasses(max(rows, 1 << 16)).near_first_word(
        stored[0].copy(), query[0], cutoff, parts, 1
    )
    assert np.array_equal(near, expected)
    row_major = np.ascontiguousarray(stored.T)
    slots = rng.integers(0, rows, min(rows, 300)).astype(np.intp)  # repeats allowed
    assert np.array_equal(
        native(rows).row_distances(row_major, slots, query),
        NumpyPasses(rows).row_distances(row_major, slots, query),
    )
