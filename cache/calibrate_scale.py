"""False hits as the cache grows: the accept rule measured against a full partition.

Serving does not compare two queries in isolation: it searches a partition that may hold
millions of entries, takes the best `cache.semantic_cache` candidates and serves the first one
the rule accepts. The more entries, the likelier one of them is a near-miss that scores above
the threshold. `scale_curve` reproduces that: for each size N it fills one partition of a
`SemanticIndex` with N distractor texts plus every pair's ``b`` side, asks every ``a`` and
counts what would be served.

A hit is true when the served entry is the pair's own ``b`` and the pair is labelled ``same``;
it is false when it is that ``b`` and the pair is labelled different, or when it is a
distractor (distractors should come from elsewhere: any of them served counts as wrong, so the
false-hit rate is an upper bound). Serving another pair's ``b`` is counted apart (``other``):
pair files often hold several phrasings of one question, so it may well be right. The entry
holding the very text asked is skipped, as the exact cache would have answered it. Recall is
over the pairs labelled ``same``. The rule's ``ambiguity_margin`` applies as in serving.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import msgspec
import numpy as np
import numpy.typing as npt

from cache.accept_rule import AcceptRule, choose, judge_allows
from cache.base import Embedder, PairJudge
from cache.calibrate import LabelledPair, embed_texts
from cache.normalize import normalize_text
from cache.question_context import split_question, with_context
from cache.semantic_cache import CANDIDATES
from cache.semantic_index import SemanticIndex

_PARTITION = "calibrate"


class ScaleRow(msgspec.Struct, frozen=True):
    """What would be served at one (cache size, threshold); rates None when undefined."""

    distractors: int
    entries: int
    threshold: float
    served: int
    true_hits: int
    false_hits: int
    other_hits: int
    positives: int
    precision: float | None
    recall: float | None


async def scale_curve(
    pairs: Sequence[LabelledPair],
    distractors: Sequence[str],
    sizes: Iterable[int],
    embedder: Embedder,
    rule: AcceptRule,
    thresholds: Iterable[float],
    judge: PairJudge | None = None,
    judge_min_probability: float = 0.5,
) -> list[ScaleRow]:
    """One row per (size, threshold), sizes capped at ``len(distractors)``. With a pair
    *judge*, the candidate the rule serves must also get *judge_min_probability* from it.

    Raises `cache.errors.EmbeddingError` when the embedder (or the judge) fails.
    """
    chances: dict[tuple[str, str], float | None] = {}

    async def judge_lets(asked: str, found: str) -> bool:
        if judge is None:
            return True
        pair = (split[asked][1], split[found][1])
        if pair not in chances:
            [chances[pair]] = await judge.probabilities([pair])
        return judge_allows(chances[pair], judge_min_probability)

    stored = sorted({normalize_text(p.b) for p in pairs})
    own = frozenset(stored)
    extra = [t for t in dict.fromkeys(normalize_text(d) for d in distractors) if t not in stored]
    asked = [normalize_text(p.a) for p in pairs]
    # As the cache reads them: a long text's question is embedded, its context is a partition.
    split = {t: split_question(t) for t in (*stored, *extra, *asked)}
    questions = sorted({question for _, question in split.values()})
    row_of = {text: i for i, text in enumerate(questions)}
    found_vectors = await embed_texts(embedder, questions)
    vectors = {t: found_vectors[row_of[question]] for t, (_, question) in split.items()}
    at_zero = msgspec.structs.replace(rule, threshold=0.0)
    positives = sum(p.same for p in pairs)
    rows = []
    for size in sorted({min(n, len(extra)) for n in sizes}):
        index = SemanticIndex(embedder.dim, len(stored) + size + 1)
        for text in (*stored, *extra[:size]):
            index.add(text, vectors[text], with_context(_PARTITION, split[text][0]))
        judged = [_candidates(index, at_zero, a, vectors[a], split) for a in asked]
        for threshold in sorted(set(thresholds)):
            true_hits = false_hits = other_hits = 0
            for pair, candidates in zip(pairs, judged, strict=True):
                found = _served(candidates, threshold, rule.ambiguity_margin)
                if found is None or not await judge_lets(normalize_text(pair.a), found):
                    continue
                if found == normalize_text(pair.b):
                    true_hits += pair.same
                    false_hits += not pair.same
                elif found in own:
                    other_hits += 1
                else:
                    false_hits += 1
            accepted = true_hits + false_hits
            rows.append(
                ScaleRow(
                    distractors=size,
                    entries=len(index),
                    threshold=threshold,
                    served=accepted + other_hits,
                    true_hits=true_hits,
                    false_hits=false_hits,
                    other_hits=other_hits,
                    positives=positives,
                    precision=true_hits / accepted if accepted else None,
                    recall=true_hits / positives if positives else None,
                )
            )
    return rows


def _candidates(
    index: SemanticIndex,
    rule: AcceptRule,
    query: str,
    vector: npt.NDArray[np.float32],
    split: dict[str, tuple[str, str]],
) -> list[tuple[str, float, str]]:
    # The neighbours a lookup would see, each with the rule's verdict apart from the score.
    context, question = split[query]
    partition = with_context(_PARTITION, context)
    found = [hit for hit in index.search(vector, partition, k=CANDIDATES + 1) if hit[0] != query]
    return [
        (text, score, rule.judge(question, split[text][1], score))
        for text, score in found[:CANDIDATES]
    ]


def _served(
    candidates: list[tuple[str, float, str]], threshold: float, margin: float
) -> str | None:
    verdicts = [v if s >= threshold else "below_threshold" for _, s, v in candidates]
    chosen, _ = choose(verdicts, [s for _, s, _ in candidates], margin)
    return None if chosen is None else candidates[chosen][0]


def format_scale(rows: Sequence[ScaleRow]) -> str:
    """Render rows as a fixed-width text table."""

    def pct(value: float | None) -> str:
        return "-" if value is None else f"{100 * value:.1f}%"

    lines = [
        f"{'entries':>8}  {'threshold':>9}  {'precision':>9}  {'recall':>7}  {'true':>6}"
        f"  {'false':>6}  {'other':>6}"
    ]
    for r in rows:
        lines.append(
            f"{r.entries:>8}  {r.threshold:>9.3f}  {pct(r.precision):>9}  {pct(r.recall):>7}  "
            f"{r.true_hits:>6}  {r.false_hits:>6}  {r.other_hits:>6}"
        )
    return "\n".join(lines)
