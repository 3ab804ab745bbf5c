"""`VerdictLog`: per-entry thresholds and the pooled δ bound learned from verifier verdicts."""

from __future__ import annotations

import random

import pytest

from cache.verified_hits import BINS, PER_ENTRY, VerdictLog, score_bin, wilson_upper


def test_wilson_upper_bound_needs_about_52_clean_verdicts_for_five_percent() -> None:
    assert wilson_upper(0, 0) == 1.0
    assert wilson_upper(0, 50) > 0.05 >= wilson_upper(0, 52)
    assert wilson_upper(5, 100) > 0.05  # an observed 5 % is not a bound of 5 %
    assert wilson_upper(1, 1000) < 0.01


def test_an_unknown_entry_at_an_unproven_score_is_asked() -> None:
    log = VerdictLog(0.05, explore_rate=0.0)
    assert log.decide("e", 0.97) == "ask"


def test_an_entry_judged_wrong_refuses_every_score_up_to_that_one() -> None:
    log = VerdictLog(0.05, explore_rate=0.0)
    log.record("e", 0.91, False)
    assert log.decide("e", 0.91) == "refuse"
    assert log.decide("e", 0.85) == "refuse"
    assert log.decide("e", 0.93) == "ask"  # closer than it was ever judged: ask again
    assert log.decide("other", 0.85) == "ask"


def test_pooled_verdicts_serve_scores_whose_bound_is_within_the_rate() -> None:
    log = VerdictLog(0.05, explore_rate=0.0)
    for i in range(60):
        log.record(f"e{i}", 0.95 + (i % 5) / 100, True)
    assert log.decide("new", 0.96) == "serve"
    assert log.decide("new", 0.99) == "serve"
    assert log.decide("new", 0.90) == "ask"  # nothing was judged that low: no proof there
    assert log.served_from() == 0.95
    log.record("x", 0.90, False)
    log.record("y", 0.91, False)
    assert log.decide("new", 0.90) == "ask"  # 2 wrong of 62 at >= 0.90: bound above 5 %
    assert log.decide("new", 0.96) == "serve"  # still none wrong from 0.95 up
    assert log.served_from() == 0.95


def test_a_popular_entry_learns_its_own_lower_threshold() -> None:
    log = VerdictLog(0.05, explore_rate=0.0)
    for _ in range(52):
        log.record("faq", 0.84, True)
    log.record("other", 0.86, False)  # the pooled evidence alone would not serve 0.86
    assert log.decide("faq", 0.86) == "serve"
    assert log.decide("faq", 0.83) == "ask"  # never judged that far out
    assert log.decide("fresh", 0.86) == "ask"


def test_exploration_keeps_asking_a_share_of_what_would_be_served() -> None:
    log = VerdictLog(0.05, explore_rate=0.25, rng=random.Random(7))
    for i in range(80):
        log.record(f"e{i}", 0.97, True)
    decisions = [log.decide("new", 0.97) for _ in range(400)]
    asked = decisions.count("ask")
    assert decisions.count("serve") + asked == 400
    assert 60 <= asked <= 140


def test_entries_beyond_the_bound_are_forgotten_oldest_first() -> None:
    log = VerdictLog(0.05, explore_rate=0.0, max_entries=2)
    log.record("a", 0.9, False)
    log.record("b", 0.9, False)
    log.record("c", 0.9, False)
    assert log.decide("a", 0.85) == "ask"  # forgotten
    assert log.decide("c", 0.85) == "refuse"
    assert log.asked == 3


@pytest.mark.parametrize("rate", [0.0, 1.0, -0.1])
def test_the_rate_must_be_a_probability_strictly_inside(rate: float) -> None:
    with pytest.raises(ValueError, match="max_error_rate"):
        VerdictLog(rate)


class TestAdoptingSharedVerdicts:
    def test_known_wrong_says_whether_a_score_is_refused(self) -> None:
        log = VerdictLog(0.05, explore_rate=0.0)
        log.record("e", 0.9, False)
        assert log.known_wrong("e", 0.9) and log.known_wrong("e", 0.85)
        assert not log.known_wrong("e", 0.91) and not log.known_wrong("other", 0.5)

    def test_an_entry_adopts_verdicts_learned_elsewhere(self) -> None:
        log = VerdictLog(0.05, explore_rate=0.0)
        log.adopt("e", [(0.88, False)])
        assert log.decide("e", 0.87) == "refuse"
        log.adopt("f", [(0.86, True)])
        assert log.decide("f", 0.86) == "serve"  # the very question, judged right elsewhere
        assert log.asked == 0  # adopting is not asking
        assert log.served_from() is None  # nor does it touch the pooled counts

    def test_adopting_keeps_local_wrong_verdicts_but_not_local_right_ones(self) -> None:
        log = VerdictLog(0.05, explore_rate=0.0)
        log.record("e", 0.90, False)  # e.g. a write that never reached the shared store
        log.record("e", 0.95, True)
        log.adopt("e", [(0.85, False), (0.97, True)])
        assert log.verdicts_of("e") == [(0.85, False), (0.97, True), (0.90, False)]
        assert log.decide("e", 0.95) == "ask"  # the unshared right verdict is not trusted

    def test_adopting_nothing_forgets_nothing_wrong_and_stores_nothing_new(self) -> None:
        log = VerdictLog(0.05, explore_rate=0.0)
        log.adopt("fresh", [])
        assert log.verdicts_of("fresh") == []
        log.record("e", 0.9, False)
        log.adopt("e", [(0.9, False)])  # the same verdict, read back: not doubled
        assert log.verdicts_of("e") == [(0.9, False)]

    def test_adopted_verdicts_keep_the_newest_up_to_the_cap(self) -> None:
        log = VerdictLog(0.05, explore_rate=0.0)
        log.adopt("e", [(0.5 + i / 1000, True) for i in range(PER_ENTRY + 10)])
        kept = log.verdicts_of("e")
        assert len(kept) == PER_ENTRY and kept[0] == (0.51, True)

    def test_adopted_bins_set_the_served_from_score(self) -> None:
        log = VerdictLog(0.05, explore_rate=0.0)
        log.record("e", 0.99, False)
        right, wrong = [0] * BINS, [0] * BINS
        right[score_bin(0.93)] = 60
        log.adopt_bins(right, wrong)  # replaces the local counts, the wrong one included
        assert log.served_from() == 0.93
        assert log.bins() == (right, wrong)
        assert log.decide("new", 0.95) == "serve"
        log.record("x", 0.94, False)
        log.record("y", 0.94, False)
        assert log.decide("new", 0.93) == "ask"  # local verdicts count on top until replaced

    def test_adopted_bins_must_cover_every_bin(self) -> None:
        with pytest.raises(ValueError, match="counts"):
            VerdictLog(0.05).adopt_bins([0] * 3, [0] * 3)
