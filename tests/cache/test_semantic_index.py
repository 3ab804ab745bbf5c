"""SemanticIndex: top-k cosine search (exact and two-stage), partitions, expiry, eviction."""

from __future__ import annotations

import threading
from typing import Any

import numpy as np
import numpy.typing as npt
import pytest

from agent.testing import ManualClock
from cache import hamming, semantic_backend
from cache.semantic_backend import MemoryBackend, SemanticEntry
from cache.semantic_index import SemanticIndex

DIM = 16
PART = ("acme", "cheap", "fake")


def unit(seed: int, dim: int = DIM) -> npt.NDArray[np.float32]:
    v = np.random.default_rng(seed).standard_normal(dim).astype(np.float32)
    return v / np.linalg.norm(v)


def near(base: npt.NDArray[np.float32], noise: float, seed: int) -> npt.NDArray[np.float32]:
    v = base + noise * np.random.default_rng(seed).standard_normal(base.shape[0])
    return (v / np.linalg.norm(v)).astype(np.float32)


class TestSearch:
    def test_returns_best_first_with_cosine_scores(self) -> None:
        index = SemanticIndex(DIM, 100)
        base = unit(1)
        index.add("exact", base, PART)
        index.add("close", near(base, 0.1, 2), PART)
        index.add("far", unit(3), PART)
        found = index.search(base, PART, k=2)
        assert [entry_id for entry_id, _ in found] == ["exact", "close"]
        assert found[0][1] == pytest.approx(1.0, abs=2e-3)
        assert found[0][1] > found[1][1]

    def test_scores_match_float32_dot_within_int8_error(self) -> None:
        index = SemanticIndex(384, 300)
        rows = [unit(seed, 384) for seed in range(300)]
        for i, row in enumerate(rows):
            index.add(str(i), row, PART)
        query = unit(999, 384)
        for entry_id, score in index.search(query, PART, k=300):
            assert score == pytest.approx(float(rows[int(entry_id)] @ query), abs=2e-3)

    def test_other_partitions_are_invisible(self) -> None:
        index = SemanticIndex(DIM, 100)
        index.add("theirs", unit(1), ("other", "cheap", "fake"))
        assert index.search(unit(1), PART) == []
        index.add("ours", unit(2), PART)
        assert [entry_id for entry_id, _ in index.search(unit(1), PART)] == ["ours"]

    def test_min_score_drops_weak_matches(self) -> None:
        index = SemanticIndex(DIM, 100)
        base = unit(1)
        index.add("close", near(base, 0.05, 2), PART)
        index.add("far", unit(3), PART)
        assert [entry_id for entry_id, _ in index.search(base, PART, min_score=0.9)] == ["close"]

    def test_rejects_wrong_dimension_and_zero_vectors(self) -> None:
        index = SemanticIndex(DIM, 10)
        with pytest.raises(ValueError, match="16"):
            index.add("x", np.ones(DIM + 1), PART)
        with pytest.raises(ValueError, match="non-zero"):
            index.add("x", np.zeros(DIM), PART)


class TestLifecycle:
    def test_expired_entries_are_not_found(self) -> None:
        clock = ManualClock()
        index = SemanticIndex(DIM, 10, clock=clock)
        index.add("short", unit(1), PART, expires_at=5.0)
        assert index.search(unit(1), PART)
        clock.advance(5.0)
        assert index.search(unit(1), PART) == []
        assert index.purge_expired() == ["short"]
        assert len(index) == 0

    def test_re_adding_an_id_replaces_it(self) -> None:
        index = SemanticIndex(DIM, 10)
        index.add("q", unit(1), PART)
        index.add("q", unit(2), PART)
        assert len(index) == 1
        assert index.search(unit(2), PART)[0][1] == pytest.approx(1.0, abs=2e-3)

    def test_removed_slot_is_reused(self) -> None:
        index = SemanticIndex(DIM, 10)
        for i in range(3):
            index.add(str(i), unit(i), PART)
        assert index.remove("1") is True
        assert index.remove("1") is False
        index.add("new", unit(7), PART)
        assert len(index) == 3
        assert index.capacity == 10
        assert [entry_id for entry_id, _ in index.search(unit(1), PART, k=10)].count("1") == 0

    def test_full_index_evicts_expired_entry_first(self) -> None:
        clock = ManualClock()
        index = SemanticIndex(DIM, 3, clock=clock)
        index.add("old", unit(1), PART)
        index.add("dying", unit(2), PART, expires_at=1.0)
        index.add("young", unit(3), PART)
        clock.advance(2.0)
        assert index.add("newest", unit(4), PART) == ["dying"]
        assert "old" in index and "newest" in index

    def test_full_index_evicts_least_recently_used(self) -> None:
        index = SemanticIndex(DIM, 3)
        for name in ("a", "b", "c"):
            index.add(name, unit(ord(name)), PART)
        index.touch("a")
        assert index.add("d", unit(9), PART) == ["b"]
        assert index.add("e", unit(10), PART) == ["c"]
        assert len(index) == 3

    def test_reserves_max_entries_and_stays_bounded(self) -> None:
        index = SemanticIndex(DIM, 2500)
        assert index.capacity == 2500
        for i in range(2600):
            index.add(str(i), unit(i), PART)
        assert len(index) == 2500
        assert "0" not in index and "2599" in index
        best = index.search(unit(2599), PART, k=1)
        assert best[0][0] == "2599"

    def test_full_index_evicts_every_expired_entry_at_once(self) -> None:
        clock = ManualClock()
        index = SemanticIndex(DIM, 4, clock=clock)
        index.add("keep", unit(1), PART)
        for name in ("x", "y", "z"):
            index.add(name, unit(ord(name)), PART, expires_at=1.0)
        clock.advance(1.0)
        assert sorted(index.add("new", unit(5), PART)) == ["x", "y", "z"]
        assert index.add("more", unit(6), PART) == []
        assert len(index) == 3


def clustered(rng: np.random.Generator, n: int, dim: int = 384) -> npt.NDArray[np.float32]:
    """Sentence-embedding-like rows: a shared direction, tight topics, and paraphrase chains."""
    shared = rng.standard_normal(dim)
    centres = rng.standard_normal((n // 50, dim)) + 0.6 * np.sqrt(dim) * shared / np.linalg.norm(
        shared
    )
    rows = perturb(rng, normalise(centres)[rng.integers(0, len(centres), n)], 0.6, 0.9)
    dups = np.flatnonzero(rng.random(n) < 0.3)[1:]
    rows[dups] = perturb(rng, rows[(rng.random(dups.size) * dups).astype(np.intp)], 0.85, 0.99)
    return rows


def normalise(rows: npt.NDArray[np.float64]) -> npt.NDArray[np.float32]:
    out: npt.NDArray[np.float32] = (rows / np.linalg.norm(rows, axis=1, keepdims=True)).astype(
        np.float32
    )
    return out


def perturb(
    rng: np.random.Generator, rows: npt.NDArray[np.float32], low: float, high: float
) -> npt.NDArray[np.float32]:
    noise = rng.standard_normal(rows.shape)
    noise -= np.sum(noise * rows, axis=1, keepdims=True) * rows
    cos = rng.uniform(low, high, (rows.shape[0], 1))
    return normalise(cos * rows + np.sqrt(1 - cos * cos) * normalise(noise))


# Both stage-1 paths: every code word over every row, and (as above 262,144 slots) the first
# word narrowing the rows down before the full codes rank them; each in C and in numpy.
STAGE_ONE = pytest.mark.parametrize(
    "opts",
    [
        {},
        {"native": False},
        {"prefilter_above": 1000, "prefilter_keep": 2048},
        {"prefilter_above": 1000, "prefilter_keep": 2048, "native": False},
    ],
    ids=["full", "full-numpy", "prefilter", "prefilter-numpy"],
)


@STAGE_ONE
class TestTwoStageSearch:
    """Indexes big enough that a Hamming shortlist picks the rows rescored."""

    def test_top1_matches_brute_force_for_close_neighbours(self, opts: dict[str, Any]) -> None:
        rng = np.random.default_rng(42)
        rows = clustered(rng, 20_000)
        index = SemanticIndex(384, len(rows), **opts)
        for i, row in enumerate(rows):
            index.add(str(i), row, PART)
        queries = perturb(rng, rows[rng.integers(0, len(rows), 2000)], 0.85, 0.995)
        truth = rows @ queries.T
        best, best_score = np.argmax(truth, axis=0), np.max(truth, axis=0)
        checked = 0
        for j, query in enumerate(queries):
            if best_score[j] < 0.85:
                continue
            checked += 1
            [(entry_id, score)] = index.search(query, PART, k=1)
            assert int(entry_id) == best[j]
            assert score == pytest.approx(best_score[j], abs=1e-3)
        assert checked > 1500

    def test_a_crowd_just_below_does_not_hide_the_close_neighbour(
        self, opts: dict[str, Any]
    ) -> None:
        # 2000 rows at cosine 0.78-0.845 around each query, one at 0.855-0.87: in Hamming
        # distance hundreds of the crowd rank ahead of it, more than the fixed shortlist holds.
        rng = np.random.default_rng(7)
        queries = normalise(rng.standard_normal((6, 384)))
        index = SemanticIndex(384, 20_000, **opts)
        for n, query in enumerate(queries):
            crowd = perturb(rng, np.repeat(query[None], 2000, axis=0), 0.78, 0.845)
            for i, row in enumerate(crowd):
                index.add(f"crowd{n}-{i}", row, PART)
            index.add(f"target{n}", perturb(rng, query[None], 0.855, 0.87)[0], PART)
        for n, query in enumerate(queries):
            assert index.search(query, PART, k=1)[0][0] == f"target{n}"

    def test_partitions_and_expiry_mask_the_shortlist(self, opts: dict[str, Any]) -> None:
        clock = ManualClock()
        index = SemanticIndex(384, 10_000, clock=clock, **opts)
        rows = clustered(np.random.default_rng(1), 3000)
        for i, row in enumerate(rows):
            index.add(f"a{i}", row, PART)
            index.add(f"b{i}", row, ("other", "cheap", "fake"))
        index.add("dying", rows[7], PART, expires_at=1.0)
        assert {entry_id for entry_id, _ in index.search(rows[7], PART, k=2)} == {"a7", "dying"}
        clock.advance(1.0)
        found = index.search(rows[7], PART, k=50)
        assert found[0][0] == "a7"
        assert all(entry_id.startswith("a") for entry_id, _ in found)

    def test_many_identical_rows_still_return_k(self, opts: dict[str, Any]) -> None:
        index = SemanticIndex(384, 5000, **opts)
        same = unit(1, 384)
        for i in range(4000):
            index.add(f"dup{i}", same, PART)
        index.add("other", unit(2, 384), PART)
        found = index.search(same, PART, k=4)
        assert len(found) == 4
        assert all(entry_id.startswith("dup") and score > 0.999 for entry_id, score in found)

    @pytest.mark.parametrize("floor", [0.8, 0.92])
    def test_a_floor_finds_what_an_exhaustive_search_finds_above_it(
        self, opts: dict[str, Any], floor: float
    ) -> None:
        rng = np.random.default_rng(3)
        rows = clustered(rng, 8000)
        index = SemanticIndex(384, len(rows), **opts)
        for i, row in enumerate(rows):
            index.add(str(i), row, PART)
        picked = rows[rng.integers(0, len(rows), 120)]
        queries = np.concatenate([perturb(rng, picked[:80], 0.75, 0.99), picked[80:]])
        checked = 0
        for query in queries:
            # k covering every row rescores every row: the exhaustive answer.
            above = [hit for hit in index.search(query, PART, k=len(rows))[:4] if hit[1] >= floor]
            found = index.search(query, PART, k=4, floor=floor)
            assert_same([hit for hit in found if hit[1] >= floor], above)
            assert_same(index.search(query, PART, k=4, min_score=floor), above)
            checked += len(above)
        assert checked > 50

    def test_moved_and_removed_entries_leave_the_partition(self, opts: dict[str, Any]) -> None:
        rows = clustered(np.random.default_rng(4), 3000)
        index = SemanticIndex(384, len(rows), **opts)
        for i, row in enumerate(rows):
            index.add(str(i), row, PART)
        index.add("10", rows[10], ("other", "cheap", "fake"))
        index.remove("20")
        assert "10" not in {entry_id for entry_id, _ in index.search(rows[10], PART, k=50)}
        assert "20" not in {entry_id for entry_id, _ in index.search(rows[20], PART, k=50)}
        assert index.search(rows[10], ("other", "cheap", "fake"), k=4)[0][0] == "10"


def assert_same(found: list[tuple[str, float]], expected: list[tuple[str, float]]) -> None:
    """The same hits; scores equal but for BLAS's summation order over more or fewer rows."""
    assert [entry_id for entry_id, _ in found] == [entry_id for entry_id, _ in expected]
    assert [score for _, score in found] == pytest.approx([score for _, score in expected])


def big_index(slots: int, native: bool = True) -> SemanticIndex:
    return SemanticIndex(384, slots, prefilter_above=1000, prefilter_keep=2048, native=native)


@pytest.mark.parametrize("native", [True, False], ids=["native", "numpy"])
class TestLargeIndexStageOne:
    """The prefilter's partition handling, at the scale tests can afford (prefilter from 1k)."""

    def test_a_small_partition_inside_a_big_index_is_searched_whole(self, native: bool) -> None:
        rng = np.random.default_rng(5)
        index = big_index(20_000, native)
        for i, row in enumerate(clustered(rng, 15_000)):
            index.add(f"a{i}", row, PART)
        small = ("acme", "cheap", "small")
        for i, row in enumerate(clustered(rng, 230)):  # at most 1/64 of the slots
            index.add(f"s{i}", row, small)
        # Fresh rows of new topics: nothing is close, so only a whole search finds the best.
        for query in clustered(rng, 60):
            assert_same(index.search(query, small, k=4), index.search(query, small, k=230)[:4])

    def test_a_mid_sized_partition_keeps_its_close_neighbours(self, native: bool) -> None:
        rng = np.random.default_rng(6)
        index = big_index(40_000, native)
        for i, row in enumerate(clustered(rng, 30_000)):
            index.add(f"a{i}", row, PART)
        middle = ("acme", "cheap", "middle")
        rows = clustered(rng, 4000)  # more than 1/64 of the slots, less than half
        for i, row in enumerate(rows):
            index.add(f"m{i}", row, middle)
        queries = perturb(rng, rows[rng.integers(0, len(rows), 300)], 0.85, 0.995)
        truth = rows @ queries.T
        for j, query in enumerate(queries):
            if truth[:, j].max() >= 0.85:
                assert index.search(query, middle, k=1)[0][0] == f"m{np.argmax(truth[:, j])}"

    def test_the_prefilter_does_not_depend_on_numpys_block_size_or_on_c(
        self, native: bool, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        rng = np.random.default_rng(9)
        indexes = big_index(8000, native), big_index(8000, native=False)
        other = ("acme", "cheap", "other")
        for i, row in enumerate(clustered(rng, 5000)):
            for index in indexes:
                index.add(f"p{i}", row, PART)
        for i, row in enumerate(clustered(rng, 1500)):
            for index in indexes:
                index.add(f"o{i}", row, other)  # a minority: its rows are masked in the pass
        queries = clustered(rng, 100)[:40]

        def searches(index: SemanticIndex) -> list[list[tuple[str, float]]]:
            return [index.search(q, part, k=8) for q in queries for part in (PART, other)]

        whole = searches(indexes[0])
        assert searches(indexes[1]) == whole
        monkeypatch.setattr(hamming, "_BLOCK", 777)
        assert searches(indexes[1]) == whole

    def test_a_search_then_an_add_of_the_same_vector_stores_the_same_code(
        self, native: bool
    ) -> None:
        rows = clustered(np.random.default_rng(8), 600)
        plain = SemanticIndex(384, 600, native=native)
        searched = SemanticIndex(384, 600, native=native)
        for i, row in enumerate(rows):
            plain.add(str(i), row, PART)
            searched.search(row, PART, k=4)
            searched.add(str(i), row, PART)
        for row in rows[::7]:
            assert searched.search(row, PART, k=4) == plain.search(row, PART, k=4)


class TestMemoryBackendFloor:
    @pytest.mark.anyio
    async def test_a_floor_keeps_hits_and_still_reports_the_best_miss(self) -> None:
        rng = np.random.default_rng(11)
        rows = clustered(rng, 3000)
        backend = MemoryBackend(384, len(rows))
        for i, row in enumerate(rows):
            entry = SemanticEntry(str(i), f"q{i}", b"", "acme", "cheap")
            await backend.add(entry, row, PART, float("inf"))
        close = perturb(rng, rows[[5, 50, 500]], 0.95, 0.99)
        for query in close:
            floored = await backend.search(query, PART, 4, floor=0.92)
            plain = await backend.search(query, PART, 4)
            assert floored[0][0].id == plain[0][0].id and floored[0][1] >= 0.92
        # Nothing near: still k candidates below the floor, so a miss keeps its best score.
        missed = await backend.search(clustered(rng, 100)[0], PART, 4, floor=0.92)
        assert len(missed) == 4 and all(score < 0.92 for _, score in missed)

    @pytest.mark.anyio
    async def test_a_big_index_searches_in_a_worker_thread_with_the_same_results(
        self, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        rng = np.random.default_rng(12)
        rows = clustered(rng, 2000)
        backend = MemoryBackend(384, len(rows))
        for i, row in enumerate(rows):
            await backend.add(SemanticEntry(str(i), f"q{i}", b"", "acme", "cheap"), row, PART, 60.0)
        queries = perturb(rng, rows[:40], 0.9, 0.99)
        inline = [await backend.search(q, PART, 4, floor=0.92) for q in queries]
        monkeypatch.setattr(semantic_backend, "_THREAD_SEARCH_ABOVE", 100)
        threads: set[int] = set()
        real_search = backend._index.search

        def search(*args: Any, **kwargs: Any) -> list[tuple[str, float]]:
            threads.add(threading.get_ident())
            return real_search(*args, **kwargs)

        monkeypatch.setattr(backend._index, "search", search)
        hopped = [await backend.search(q, PART, 4, floor=0.92) for q in queries]
        assert hopped == inline
        assert threads and threading.get_ident() not in threads
