"""``frugal calibrate``: measure the semantic cache's accept rule on labelled query pairs.

Each pair says whether one query's answer may serve the other (``same``). Every unique
(normalised) text is embedded once, in batches; each pair is then judged with `AcceptRule.judge`
-- the very rule the cache applies, guards, window and vocabulary checks included -- as if ``b``
were stored and ``a`` asked. The rule's verdict apart from the threshold does not depend on the
threshold, so it is computed once per pair and each threshold only compares the score.

Per threshold: precision, recall and false-hit rate (false hits / accepted) of the rule, and
the precision and recall of plain cosine at that threshold (no guards), so what the guards cost
in recall and buy in precision is visible. `threshold_for` finds the lowest threshold at and
above which precision stays at a target. Pair isolation hides what a full cache adds; see
`cache.calibrate_scale` for the measurement against N stored distractors.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable, Sequence
from pathlib import Path

import msgspec
import numpy as np
import numpy.typing as npt

from cache.accept_rule import AcceptRule, judge_allows
from cache.base import Embedder, PairJudge
from cache.normalize import normalize_text
from cache.question_context import split_question

DEFAULT_THRESHOLDS = tuple(round(0.80 + 0.01 * i, 2) for i in range(20))
_BATCH = 256
_FINE_GRID = np.round(np.arange(0.700, 1.0, 0.001), 3)
_TRUE_WORDS = frozenset({"1", "true", "yes", "same"})


class LabelledPair(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """One calibration pair; ``source`` says where it came from (free text, not used)."""

    a: str
    b: str
    same: bool
    source: str = ""


class CalibrationRow(msgspec.Struct, frozen=True):
    """The accept rule's quality at one threshold. Rates are None when undefined (0/0)."""

    threshold: float
    accepted: int
    true_hits: int
    false_hits: int
    positives: int
    precision: float | None
    recall: float | None
    false_hit_rate: float | None
    cosine_precision: float | None
    cosine_recall: float | None


class PairScores(msgspec.Struct, frozen=True):
    """Per pair: its cosine, whether the rule accepts it at threshold 0, and its label."""

    scores: list[float]
    allowed: list[bool]
    same: list[bool]


def read_pairs(path: Path) -> list[LabelledPair]:
    """Parse pairs from JSONL (``{"a", "b", "same"[, "source"]}`` per line, blank lines skipped),
    or from a ``.csv`` / ``.tsv`` file with a header naming ``a``, ``b`` and ``same`` columns
    (``same`` is 1/0, true/false or yes/no). Raises ValueError naming a bad line."""
    if path.suffix in (".csv", ".tsv"):
        return _read_table(path, "\t" if path.suffix == ".tsv" else ",")
    decoder = msgspec.json.Decoder(LabelledPair)
    pairs = []
    for number, line in enumerate(path.read_bytes().splitlines(), start=1):
        if not line.strip():
            continue
        try:
            pairs.append(decoder.decode(line))
        except msgspec.DecodeError as exc:
            raise ValueError(f"{path}:{number}: {exc}") from exc
    return pairs


def _read_table(path: Path, delimiter: str) -> list[LabelledPair]:
    with path.open(encoding="utf-8", newline="") as f:
        reader = csv.DictReader(f, delimiter=delimiter)
        missing = {"a", "b", "same"} - set(reader.fieldnames or ())
        if missing:
            raise ValueError(f"{path}: header lacks {', '.join(sorted(missing))}")
        pairs = []
        for number, row in enumerate(reader, start=2):
            if row["a"] is None or row["b"] is None or row["same"] is None:
                raise ValueError(f"{path}:{number}: too few columns")
            same = row["same"].strip().lower()
            pairs.append(
                LabelledPair(row["a"], row["b"], same in _TRUE_WORDS, row.get("source") or "")
            )
        return pairs


async def embed_texts(embedder: Embedder, texts: Sequence[str]) -> npt.NDArray[np.float32]:
    """Embed ``texts`` in batches; raises `cache.errors.EmbeddingError` when the embedder fails."""
    vectors = np.zeros((len(texts), embedder.dim), dtype=np.float32)
    for start in range(0, len(texts), _BATCH):
        vectors[start : start + _BATCH] = await embedder.embed(texts[start : start + _BATCH])
    return vectors


async def score_pairs(
    pairs: Sequence[LabelledPair],
    embedder: Embedder,
    rule: AcceptRule,
    judge: PairJudge | None = None,
    judge_min_probability: float = 0.5,
) -> PairScores:
    """Embed each unique question once and judge every pair at threshold 0.

    A long text is its context and its question, as the cache reads it
    (`cache.question_context`): the questions are scored and judged, and a pair whose
    contexts differ is never accepted (the cache would search another partition). With a
    pair *judge*, a pair the rule allows must also get at least *judge_min_probability* from
    it, as the cache asks it about the candidate the rule passed (``a`` asked, ``b`` stored).
    """
    left = [split_question(normalize_text(p.a)) for p in pairs]
    right = [split_question(normalize_text(p.b)) for p in pairs]
    texts = sorted({question for _, question in (*left, *right)})
    row_of = {text: i for i, text in enumerate(texts)}
    vectors = await embed_texts(embedder, texts)
    scores = [
        float(vectors[row_of[a]] @ vectors[row_of[b]])
        for (_, a), (_, b) in zip(left, right, strict=True)
    ]
    at_zero = msgspec.structs.replace(rule, threshold=0.0)
    allowed = [
        context_a == context_b and at_zero.judge(a, b, s) == "hit"
        for (context_a, a), (context_b, b), s in zip(left, right, scores, strict=True)
    ]
    if judge is not None:
        asked = [i for i, ok in enumerate(allowed) if ok]
        for start in range(0, len(asked), _BATCH):
            chunk = asked[start : start + _BATCH]
            chances = await judge.probabilities([(left[i][1], right[i][1]) for i in chunk])
            for i, chance in zip(chunk, chances, strict=True):
                allowed[i] = judge_allows(chance, judge_min_probability)
    return PairScores(scores, allowed, [p.same for p in pairs])


def table(scored: PairScores, thresholds: Iterable[float]) -> list[CalibrationRow]:
    """One row per threshold (sorted), from `score_pairs`' output."""
    score = np.asarray(scored.scores, dtype=np.float64)
    allowed = np.asarray(scored.allowed, dtype=bool)
    same = np.asarray(scored.same, dtype=bool)
    positives = int(same.sum())
    rows = []
    for threshold in sorted(set(thresholds)):
        above = score >= threshold
        hit = above & allowed
        true_hits, false_hits = int((hit & same).sum()), int((hit & ~same).sum())
        cos_true, cos_all = int((above & same).sum()), int(above.sum())
        accepted = true_hits + false_hits
        rows.append(
            CalibrationRow(
                threshold=threshold,
                accepted=accepted,
                true_hits=true_hits,
                false_hits=false_hits,
                positives=positives,
                precision=true_hits / accepted if accepted else None,
                recall=true_hits / positives if positives else None,
                false_hit_rate=false_hits / accepted if accepted else None,
                cosine_precision=cos_true / cos_all if cos_all else None,
                cosine_recall=cos_true / positives if positives else None,
            )
        )
    return rows


async def calibrate(
    pairs: Sequence[LabelledPair],
    embedder: Embedder,
    thresholds: Iterable[float],
    *,
    rule: AcceptRule,
) -> list[CalibrationRow]:
    """Judge every pair at every threshold with ``rule`` (its own threshold is ignored).

    Raises `cache.errors.EmbeddingError` when the embedder fails.
    """
    return table(await score_pairs(pairs, embedder, rule), thresholds)


def threshold_for(scored: PairScores, target_precision: float) -> CalibrationRow | None:
    """The row of the lowest threshold (0.700 to 0.999, step 0.001) at and above which the
    rule's precision never falls below ``target_precision``; None if no threshold reaches it."""
    rows = table(scored, _FINE_GRID.tolist())
    best = None
    for row in reversed(rows):
        if row.precision is not None and row.precision < target_precision:
            break
        if row.accepted:
            best = row
    return best


def format_table(rows: Sequence[CalibrationRow]) -> str:
    """Render rows as a fixed-width text table, thresholds to 3 decimals."""

    def pct(value: float | None) -> str:
        return "-" if value is None else f"{100 * value:.1f}%"

    lines = [
        f"{'threshold':>9}  {'precision':>9}  {'recall':>7}  {'false-hit':>9}  {'accepted':>8}"
        f"  {'cos-prec':>8}  {'cos-rec':>7}"
    ]
    for r in rows:
        lines.append(
            f"{r.threshold:>9.3f}  {pct(r.precision):>9}  {pct(r.recall):>7}  "
            f"{pct(r.false_hit_rate):>9}  {r.accepted:>8}  {pct(r.cosine_precision):>8}  "
            f"{pct(r.cosine_recall):>7}"
        )
    return "\n".join(lines)
