"""``frugal calibrate --verify``: replay labelled pairs through verified hits (`VerdictLog`).

Each pair is one lookup, in a shuffled stream, as if ``b`` were stored and ``a`` asked. A pair
the rule refuses at the floor (guards, window, vocabulary, or a cosine below the floor) is a
miss. Otherwise the `VerdictLog` decides, exactly as `cache.semantic_cache.SemanticCache` does:
``serve`` (no judge), ``refuse``, or ``ask`` — and the judge is the pair's label, right with
probability ``judge_accuracy`` (a real judge errs too; 1.0 measures the policy alone). Its
verdicts feed the log, so later lookups are served from what earlier ones proved.

What it reports is what ``max_error_rate`` promises: the false-hit rate of everything served,
and of what was served without a judge; and what it costs: judge calls per lookup.
"""

from __future__ import annotations

import random
from collections.abc import Sequence

import msgspec

from cache.calibrate import LabelledPair, PairScores
from cache.normalize import normalize_text
from cache.verified_hits import VerdictLog


class VerifiedRun(msgspec.Struct, frozen=True):
    """One replay: counts, and the rates (None when undefined)."""

    max_error_rate: float
    floor: float
    judge_accuracy: float
    lookups: int
    positives: int
    served: int
    served_wrong: int
    served_unjudged: int
    served_unjudged_wrong: int
    judge_calls: int
    false_hit_rate: float | None
    unjudged_false_hit_rate: float | None
    recall: float | None
    judge_calls_per_lookup: float
    served_from: float | None


def replay(
    pairs: Sequence[LabelledPair],
    scored: PairScores,
    *,
    max_error_rate: float,
    floor: float,
    judge_accuracy: float = 1.0,
    seed: int = 0,
) -> VerifiedRun:
    """Replay ``pairs`` (scored by `cache.calibrate.score_pairs`) in a shuffled order."""
    rng = random.Random(seed)
    log = VerdictLog(max_error_rate, rng=random.Random(seed + 1))
    order = list(range(len(pairs)))
    rng.shuffle(order)
    served = wrong = unjudged = unjudged_wrong = calls = 0
    for i in order:
        score, same = scored.scores[i], scored.same[i]
        if not scored.allowed[i] or score < floor:
            continue
        entry = normalize_text(pairs[i].b)
        decision = log.decide(entry, score)
        if decision == "refuse":
            continue
        if decision == "ask":
            calls += 1
            verdict = same if rng.random() < judge_accuracy else not same
            log.record(entry, score, verdict)
            if not verdict:
                continue
        else:
            unjudged += 1
            unjudged_wrong += not same
        served += 1
        wrong += not same
    positives = sum(scored.same)
    return VerifiedRun(
        max_error_rate=max_error_rate,
        floor=floor,
        judge_accuracy=judge_accuracy,
        lookups=len(pairs),
        positives=positives,
        served=served,
        served_wrong=wrong,
        served_unjudged=unjudged,
        served_unjudged_wrong=unjudged_wrong,
        judge_calls=calls,
        false_hit_rate=wrong / served if served else None,
        unjudged_false_hit_rate=unjudged_wrong / unjudged if unjudged else None,
        recall=(served - wrong) / positives if positives else None,
        judge_calls_per_lookup=calls / len(pairs) if pairs else 0.0,
        served_from=log.served_from(),
    )


def format_run(run: VerifiedRun) -> str:
    """The replay as a few lines of text."""

    def pct(value: float | None) -> str:
        return "-" if value is None else f"{100 * value:.1f}%"

    return "\n".join(
        (
            f"verified hits: max_error_rate {run.max_error_rate:.3f}, floor {run.floor:.3f}, "
            f"judge accuracy {run.judge_accuracy:.3f}",
            f"  served {run.served} of {run.lookups} lookups ({run.positives} labelled same): "
            f"false-hit rate {pct(run.false_hit_rate)}, recall {pct(run.recall)}",
            f"  served without the judge: {run.served_unjudged}, false-hit rate "
            f"{pct(run.unjudged_false_hit_rate)}; served from cosine "
            f"{'-' if run.served_from is None else f'{run.served_from:.3f}'} at the end",
            f"  judge calls: {run.judge_calls} ({run.judge_calls_per_lookup:.2f} per lookup)",
        )
    )
