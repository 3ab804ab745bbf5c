"""``frugal calibrate --by-source``: the accept rule's hits per pair ``source``.

A pair file that names where each pair came from (``"source": "neg:unit"``, ``"para:acronym"``)
shows which kinds of near-miss leak through and which kinds of paraphrase the guards refuse,
at the deployed threshold: per source, how many pairs, how many are labelled same, how many
plain cosine would serve, and how many the rule serves rightly and wrongly.
"""

from __future__ import annotations

from collections.abc import Sequence

import msgspec

from cache.calibrate import LabelledPair, PairScores


class SourceRow(msgspec.Struct, frozen=True):
    """The rule's hits on the pairs of one ``source`` at one threshold."""

    source: str
    pairs: int
    positives: int
    cosine_hits: int  # pairs at or above the threshold, before the guards
    true_hits: int
    false_hits: int


def by_source(
    pairs: Sequence[LabelledPair], scored: PairScores, threshold: float
) -> list[SourceRow]:
    """One row per source (sorted; pairs without one are under ``-``)."""
    counts: dict[str, list[int]] = {}
    for pair, score, allowed in zip(pairs, scored.scores, scored.allowed, strict=True):
        row = counts.setdefault(pair.source or "-", [0, 0, 0, 0, 0])
        above = score >= threshold
        row[0] += 1
        row[1] += pair.same
        row[2] += above
        row[3] += above and allowed and pair.same
        row[4] += above and allowed and not pair.same
    return [SourceRow(source, *row) for source, row in sorted(counts.items())]


def format_sources(rows: Sequence[SourceRow], threshold: float) -> str:
    """Render rows as a fixed-width text table."""
    width = max([len("source"), *(len(r.source) for r in rows)])
    lines = [
        f"by source at threshold {threshold:.3f}:",
        f"{'source':<{width}}  {'pairs':>5}  {'same':>5}  {'cosine':>6}  {'true':>5}  {'false':>5}",
    ]
    lines += [
        f"{r.source:<{width}}  {r.pairs:>5}  {r.positives:>5}  {r.cosine_hits:>6}  "
        f"{r.true_hits:>5}  {r.false_hits:>5}"
        for r in rows
    ]
    return "\n".join(lines)
