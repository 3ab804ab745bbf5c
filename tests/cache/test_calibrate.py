"""frugal calibrate: the cache's accept rule measured on labelled pairs."""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

import pytest

from cache.calibrate import LabelledPair, calibrate, read_pairs
from tests.cache.test_semantic_cache import HashingEmbedder, non_ascii_ratio

PAIRS = [
    LabelledPair("How do I reset my password?", "How can I reset my password?", True),
    LabelledPair("Can I cancel my order?", "Can I not cancel my order?", False),
    LabelledPair("Where is my parcel?", "Where is my parcel right now?", True),
    LabelledPair("Where is my parcel?", "Which cards do you accept?", False),
    LabelledPair("如何重置密码", "怎么重置密码", True),
]


@pytest.mark.anyio
async def test_table_applies_threshold_guards_and_unrepresentable_check() -> None:
    rows = await calibrate(PAIRS, HashingEmbedder(), [0.95, 0.7], unknown_ratio=non_ascii_ratio)
    assert [r.threshold for r in rows] == [0.7, 0.95]
    low, high = rows
    # 0.7: both English paraphrases hit (the second loses a little to "right now"), the
    # negation is caught by the guard and the Chinese pair is unrepresentable.
    assert (low.accepted, low.true_hits, low.false_hits, low.positives) == (2, 2, 0, 3)
    assert low.precision == 1.0 and low.false_hit_rate == 0.0
    assert low.recall == pytest.approx(2 / 3)
    assert high.accepted == 1
    assert high.recall == pytest.approx(1 / 3)


@pytest.mark.anyio
async def test_accepted_pair_labelled_different_counts_as_false_hit() -> None:
    pairs = [LabelledPair("where is my parcel", "where is my parcel", False)]
    [row] = await calibrate(pairs, HashingEmbedder(), [0.9], unknown_ratio=None)
    assert (row.false_hits, row.precision, row.recall, row.false_hit_rate) == (1, 0.0, None, 1.0)


def test_read_pairs_names_the_bad_line(tmp_path: Path) -> None:
    path = tmp_path / "pairs.jsonl"
    path.write_text('{"a": "x", "b": "y", "same": true}\n\n{"a": "x", "same": true}\n')
    with pytest.raises(ValueError, match=r"pairs\.jsonl:3"):
        read_pairs(path)


def test_shipped_pairs_are_valid_and_balanced() -> None:
    path = Path(str(files("cache") / "data" / "calibration_pairs.jsonl"))
    pairs = read_pairs(path)
    assert len(pairs) >= 110
    assert 0.3 < sum(p.same for p in pairs) / len(pairs) < 0.6
    assert any(not p.a.isascii() for p in pairs)
