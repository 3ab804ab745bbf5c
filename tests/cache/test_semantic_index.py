"""SemanticIndex: top-k cosine search, partitions, expiry, eviction and growth."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import pytest

from agent.testing import ManualClock
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

    def test_scores_match_float32_dot_within_bfloat16_error(self) -> None:
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

    def test_grows_by_doubling_up_to_max_entries(self) -> None:
        index = SemanticIndex(DIM, 2500)
        assert index.capacity == 1024
        for i in range(1025):
            index.add(str(i), unit(i), PART)
        assert index.capacity == 2048
        for i in range(1025, 2600):
            index.add(str(i), unit(i), PART)
        assert index.capacity == 2500
        assert len(index) == 2500
        assert "0" not in index and "2599" in index
        best = index.search(unit(2599), PART, k=1)
        assert best[0][0] == "2599"
