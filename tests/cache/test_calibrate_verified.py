"""`cache.calibrate_verified.replay`: verified hits replayed on labelled, scored pairs."""

from __future__ import annotations

from cache.calibrate import LabelledPair, PairScores
from cache.calibrate_verified import format_run, replay


def pairs_and_scores(rows: list[tuple[float, bool, bool]]) -> tuple[list[LabelledPair], PairScores]:
    """(score, allowed by the guards, same) per pair; each pair stores its own entry."""
    pairs = [LabelledPair(f"q{i}", f"entry {i}", same) for i, (_, _, same) in enumerate(rows)]
    scored = PairScores(
        scores=[score for score, _, _ in rows],
        allowed=[allowed for _, allowed, _ in rows],
        same=[same for _, _, same in rows],
    )
    return pairs, scored


def test_a_perfect_judge_proves_a_score_band_then_it_is_served_unjudged() -> None:
    pairs, scored = pairs_and_scores([(0.95, True, True)] * 100)
    run = replay(pairs, scored, max_error_rate=0.05, floor=0.8)
    # The Wilson bound reaches 5 % after 52 clean verdicts; then 2 % are still explored.
    assert 52 <= run.judge_calls <= 56
    assert (run.served, run.served_unjudged + run.judge_calls, run.served_wrong) == (100, 100, 0)
    assert run.served_from == 0.95 and run.recall == 1.0


def test_below_the_floor_and_guarded_pairs_are_misses_without_a_judge() -> None:
    pairs, scored = pairs_and_scores([(0.79, True, True), (0.99, False, False)])
    run = replay(pairs, scored, max_error_rate=0.05, floor=0.8)
    assert (run.served, run.judge_calls, run.false_hit_rate) == (0, 0, None)
    assert run.recall == 0.0


def test_a_fallible_judge_lets_wrong_answers_through_at_its_error_rate() -> None:
    rows = [(0.85, True, i % 2 == 0) for i in range(2000)]  # half of them wrong
    pairs, scored = pairs_and_scores(rows)
    run = replay(pairs, scored, max_error_rate=0.05, floor=0.8, judge_accuracy=0.9, seed=3)
    assert run.served_unjudged == 0  # a band that is half wrong is never proven
    assert run.judge_calls == 2000
    assert run.false_hit_rate is not None and 0.06 < run.false_hit_rate < 0.14
    assert "judge calls: 2000 (1.00 per lookup)" in format_run(run)
