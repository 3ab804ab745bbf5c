"""``frugal calibrate``: measure the semantic cache's accept rule on labelled query pairs.

    frugal calibrate PAIRS.jsonl [--json] [--thresholds 0.80,0.85,0.90,0.92,0.95]

Each line of PAIRS.jsonl is ``{"a": "...", "b": "...", "same": true|false}``: ``same`` says
whether one query's answer may serve the other. Every unique (normalised) text is embedded once,
in batches, then each pair is judged at each threshold by `AcceptRule.judge` — the very rule the
cache applies, guards and unrepresentable check included — as if ``b`` were stored and ``a``
asked. Per threshold: precision, recall, false-hit rate (false hits / accepted) and accepted
count. The packaged example set is ``cache/data/calibration_pairs.jsonl``.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Iterable, Sequence
from contextlib import AbstractAsyncContextManager
from pathlib import Path
from typing import Protocol

import anyio
import msgspec
import numpy as np

from cache.base import Embedder
from cache.normalize import normalize_text
from cache.semantic_cache import AcceptRule

DEFAULT_THRESHOLDS = (0.80, 0.85, 0.88, 0.90, 0.92, 0.94, 0.96)
_BATCH = 256


class VocabularyEmbedder(Embedder, Protocol):
    """An `Embedder` that can also say how much of a text its vocabulary does not cover."""

    def unknown_token_ratio(self, text: str) -> float:
        """The share of ``text``'s tokens the model does not know (0.0 to 1.0)."""
        ...


EmbedderLoader = Callable[[], AbstractAsyncContextManager[VocabularyEmbedder]]
"""Opens the embedder to calibrate with (``frugal calibrate`` passes the packaged MiniLM)."""


class LabelledPair(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """One line of a calibration file."""

    a: str
    b: str
    same: bool


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


def read_pairs(path: Path) -> list[LabelledPair]:
    """Parse a JSONL file of pairs (blank lines skipped); raise ValueError naming a bad line."""
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


async def calibrate(
    pairs: Sequence[LabelledPair],
    embedder: Embedder,
    thresholds: Iterable[float],
    *,
    unknown_ratio: Callable[[str], float] | None,
    max_unknown_token_ratio: float = 0.10,
) -> list[CalibrationRow]:
    """Judge every pair at every threshold with the cache's `AcceptRule`; one row per threshold.

    Raises `cache.errors.EmbeddingError` when the embedder fails.
    """
    left = [normalize_text(p.a) for p in pairs]
    right = [normalize_text(p.b) for p in pairs]
    texts = sorted(set(left) | set(right))
    row_of = {text: i for i, text in enumerate(texts)}
    vectors = np.zeros((len(texts), embedder.dim), dtype=np.float32)
    for start in range(0, len(texts), _BATCH):
        vectors[start : start + _BATCH] = await embedder.embed(texts[start : start + _BATCH])
    a_rows = vectors[[row_of[t] for t in left]] if pairs else vectors[:0]
    b_rows = vectors[[row_of[t] for t in right]] if pairs else vectors[:0]
    scores = np.einsum("ij,ij->i", a_rows, b_rows)
    ratio = _memoised(unknown_ratio) if unknown_ratio is not None else None
    positives = sum(p.same for p in pairs)
    table = []
    for threshold in sorted(set(thresholds)):
        rule = AcceptRule(threshold, max_unknown_token_ratio, ratio)
        true_hits = false_hits = 0
        for pair, a, b, score in zip(pairs, left, right, scores, strict=True):
            if rule.judge(a, b, float(score)) == "hit":
                if pair.same:
                    true_hits += 1
                else:
                    false_hits += 1
        accepted = true_hits + false_hits
        table.append(
            CalibrationRow(
                threshold=threshold,
                accepted=accepted,
                true_hits=true_hits,
                false_hits=false_hits,
                positives=positives,
                precision=true_hits / accepted if accepted else None,
                recall=true_hits / positives if positives else None,
                false_hit_rate=false_hits / accepted if accepted else None,
            )
        )
    return table


def format_table(rows: Sequence[CalibrationRow]) -> str:
    """Render rows as a fixed-width text table."""

    def pct(value: float | None) -> str:
        return "-" if value is None else f"{100 * value:.1f}%"

    lines = [
        f"{'threshold':>9}  {'precision':>9}  {'recall':>7}  {'false-hit':>9}  {'accepted':>8}"
    ]
    for r in rows:
        lines.append(
            f"{r.threshold:>9.2f}  {pct(r.precision):>9}  {pct(r.recall):>7}  "
            f"{pct(r.false_hit_rate):>9}  {r.accepted:>8}"
        )
    return "\n".join(lines)


def main(argv: Sequence[str] | None, *, load_embedder: EmbedderLoader) -> int:
    """Run ``frugal calibrate`` with the embedder ``load_embedder`` opens; returns the exit
    status. The cache cannot pick a model itself: `server.calibrate` passes the packaged one."""
    parser = argparse.ArgumentParser(
        prog="frugal calibrate", description="Measure semantic-cache thresholds on labelled pairs."
    )
    parser.add_argument("pairs", type=Path, help="JSONL file of {a, b, same} lines")
    parser.add_argument("--json", action="store_true", help="print the table as JSON")
    parser.add_argument(
        "--thresholds",
        type=_parse_thresholds,
        default=DEFAULT_THRESHOLDS,
        help="comma-separated thresholds (default: %(default)s)",
    )
    parser.add_argument("--max-unknown-ratio", type=float, default=0.10)
    args = parser.parse_args(argv)
    try:
        pairs = read_pairs(args.pairs)
    except (OSError, ValueError) as exc:
        print(f"frugal calibrate: {exc}", file=sys.stderr)
        return 2
    rows = anyio.run(_calibrate_with, load_embedder, pairs, args.thresholds, args.max_unknown_ratio)
    if args.json:
        print(msgspec.json.encode(rows).decode())
    else:
        print(f"{len(pairs)} pairs, {sum(p.same for p in pairs)} labelled same")
        print(format_table(rows))
    return 0


async def _calibrate_with(
    load_embedder: EmbedderLoader,
    pairs: list[LabelledPair],
    thresholds: Sequence[float],
    max_unknown: float,
) -> list[CalibrationRow]:
    async with load_embedder() as embedder:
        return await calibrate(
            pairs,
            embedder,
            thresholds,
            unknown_ratio=embedder.unknown_token_ratio,
            max_unknown_token_ratio=max_unknown,
        )


def _parse_thresholds(text: str) -> tuple[float, ...]:
    try:
        values = tuple(float(part) for part in text.split(",") if part.strip())
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"not a list of numbers: {text!r}") from exc
    if not values or not all(0.0 < v <= 1.0 for v in values):
        raise argparse.ArgumentTypeError("thresholds must be in (0, 1]")
    return values


def _memoised(func: Callable[[str], float]) -> Callable[[str], float]:
    # Each text is judged once per pair and threshold; its token ratio never changes.
    seen: dict[str, float] = {}

    def ratio(text: str) -> float:
        if text not in seen:
            seen[text] = func(text)
        return seen[text]

    return ratio
