"""frugal calibrate: the cache's accept rule measured on labelled pairs, and at scale."""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

import pytest

from cache.accept_rule import AcceptRule
from cache.calibrate import LabelledPair, calibrate, read_pairs, score_pairs, threshold_for
from cache.calibrate_scale import scale_curve
from tests.cache.test_semantic_cache import HashingEmbedder, non_ascii_ratio

PAIRS = [
    LabelledPair("How do I reset my password?", "How can I reset my password?", True),
    LabelledPair("Can I cancel my order?", "Can I not cancel my order?", False),
    LabelledPair("Where is my parcel?", "Where is my parcel right now?", True),
    LabelledPair("Where is my parcel?", "Which cards do you accept?", False),
    LabelledPair("如何重置密码", "怎么重置密码", True),
]
RULE = AcceptRule(unknown_ratio=non_ascii_ratio)


@pytest.mark.anyio
async def test_table_applies_threshold_guards_and_unrepresentable_check() -> None:
    rows = await calibrate(PAIRS, HashingEmbedder(), [0.95, 0.7], rule=RULE)
    assert [r.threshold for r in rows] == [0.7, 0.95]
    low, high = rows
    # 0.7: both English paraphrases hit (the second loses a little to "right now"), the
    # negation is caught by the guard and the Chinese pair is unrepresentable.
    assert (low.accepted, low.true_hits, low.false_hits, low.positives) == (2, 2, 0, 3)
    assert low.precision == 1.0 and low.false_hit_rate == 0.0
    assert low.recall == pytest.approx(2 / 3)
    # Plain cosine also takes the negated pair: one false hit in three.
    assert low.cosine_precision == pytest.approx(2 / 3)
    assert high.accepted == 1
    assert high.recall == pytest.approx(1 / 3)


@pytest.mark.anyio
async def test_accepted_pair_labelled_different_counts_as_false_hit() -> None:
    pairs = [LabelledPair("where is my parcel", "where is my parcel", False)]
    [row] = await calibrate(pairs, HashingEmbedder(), [0.9], rule=AcceptRule())
    assert (row.false_hits, row.precision, row.recall, row.false_hit_rate) == (1, 0.0, None, 1.0)


@pytest.mark.anyio
async def test_threshold_for_a_target_precision_is_the_lowest_safe_one() -> None:
    pairs = [
        LabelledPair("where is my parcel", "where is my parcel", True),  # 1.0
        LabelledPair("where is my parcel", "where is my parcel now", False),  # ~0.82
        LabelledPair("reset my password", "reset my password please", True),  # ~0.82
    ]
    scored = await score_pairs(pairs, HashingEmbedder(), AcceptRule())
    target = threshold_for(scored, 1.0)
    assert target is not None and target.precision == 1.0 and target.recall == 0.5
    assert target.threshold > max(s for s in scored.scores if s < 0.999)
    assert threshold_for(scored, 0.6) is not None
    assert threshold_for(scored, 0.6).recall == 1.0  # type: ignore[union-attr]


@pytest.mark.anyio
async def test_scale_curve_counts_distractors_served_as_false_hits() -> None:
    pairs = [LabelledPair("where is my parcel", "where is my parcel please", True)]
    # The distractor (same words, bag of words: 1.0) is closer than the stored paraphrase.
    rows = await scale_curve(
        pairs, ["my parcel: where is"], [0, 1], HashingEmbedder(), AcceptRule(), [0.8]
    )
    alone, crowded = rows
    assert (alone.entries, alone.true_hits, alone.false_hits) == (1, 1, 0)
    assert (crowded.entries, crowded.true_hits, crowded.false_hits) == (2, 0, 1)
    assert crowded.precision == 0.0 and crowded.recall == 0.0


def test_read_pairs_names_the_bad_line(tmp_path: Path) -> None:
    path = tmp_path / "pairs.jsonl"
    path.write_text('{"a": "x", "b": "y", "same": true}\n\n{"a": "x", "same": true}\n')
    with pytest.raises(ValueError, match=r"pairs\.jsonl:3"):
        read_pairs(path)


def test_read_pairs_from_csv_and_tsv(tmp_path: Path) -> None:
    csv_path, tsv_path = tmp_path / "p.csv", tmp_path / "p.tsv"
    csv_path.write_text('a,b,same\n"Hi, there",hello,1\nx,y,false\n')
    tsv_path.write_text("same\ta\tb\tsource\nyes\tp\tq\tquora\n")
    assert read_pairs(csv_path) == [
        LabelledPair("Hi, there", "hello", True),
        LabelledPair("x", "y", False),
    ]
    assert read_pairs(tsv_path) == [LabelledPair("p", "q", True, "quora")]
    bad = tmp_path / "bad.csv"
    bad.write_text("a,b\nx,y\n")
    with pytest.raises(ValueError, match="same"):
        read_pairs(bad)


def test_shipped_pairs_are_valid_and_balanced() -> None:
    path = Path(str(files("cache") / "data" / "calibration_pairs.jsonl"))
    pairs = read_pairs(path)
    assert len(pairs) >= 110
    assert 0.3 < sum(p.same for p in pairs) / len(pairs) < 0.6
    assert any(not p.a.isascii() for p in pairs)


@pytest.mark.anyio
async def test_a_pair_judge_decides_what_the_rule_allows() -> None:
    from tests.cache.test_semantic_cache import FixedJudge

    rule = AcceptRule(unknown_ratio=non_ascii_ratio)
    judge = FixedJudge(0.3)
    scored = await score_pairs(PAIRS, HashingEmbedder(), rule, judge, 0.5)
    assert not any(scored.allowed)  # every pair the rule allowed, the judge refused
    # Asked only about what the rule allowed (not the negation, not the Chinese pair).
    assert len(judge.asked) == 3 and all(a.isascii() and b.isascii() for a, b in judge.asked)
    assert (await score_pairs(PAIRS, HashingEmbedder(), rule, FixedJudge(0.5), 0.5)).allowed == (
        await score_pairs(PAIRS, HashingEmbedder(), rule)
    ).allowed


@pytest.mark.anyio
async def test_at_scale_the_judge_refuses_what_the_rule_would_serve() -> None:
    from tests.cache.test_semantic_cache import FixedJudge

    pairs = [LabelledPair("where is my parcel", "where is my parcel now", True)]
    refusing = FixedJudge(0.1)
    args = (pairs, ["my parcel: where is"], [0, 1], HashingEmbedder(), AcceptRule(), [0.8])
    rows = await scale_curve(*args, refusing, 0.5)
    assert [r.served for r in rows] == [0, 0]
    assert refusing.asked  # asked once per distinct (question, candidate), then remembered
    assert len(refusing.asked) == len(set(refusing.asked))
    assert [r.served for r in await scale_curve(*args, FixedJudge(0.9), 0.5)] == [
        r.served for r in await scale_curve(*args)
    ]
