"""``frugal calibrate``: measure the deployed semantic cache on labelled pairs.

    frugal calibrate PAIRS [PAIRS ...] [--json] [--thresholds 0.90,0.92,0.95]
                     [--target-precision 0.99] [--max-unknown-ratio R]
                     [--scale 0,1000,10000 --distractors TEXTS]
                     [--verify [--max-error-rate 0.05] [--verify-floor 0.8]
                      [--judge-accuracy 0.95]] [--by-source]

The embedder, its window and vocabulary checks, and ``max_unknown_token_ratio`` are those the
configuration (environment and ``FRUGAL_CONFIG`` TOML, as for ``frugal serve``) deploys; the
measurement itself lives in `cache.calibrate` and `cache.calibrate_scale`. PAIRS are JSONL, CSV
or TSV files (see `cache.calibrate.read_pairs`); DISTRACTORS is a text file, one query a line,
or a pairs file (both sides are used). ``--verify`` also replays the pairs through verified
hits (`cache.calibrate_verified`), with the label as the judge.
"""

from __future__ import annotations

import argparse
import contextlib
import sys
from collections.abc import Sequence
from pathlib import Path

import aiohttp
import anyio
import msgspec

from cache.accept_rule import AcceptRule
from cache.calibrate import (
    DEFAULT_THRESHOLDS,
    CalibrationRow,
    LabelledPair,
    format_table,
    read_pairs,
    score_pairs,
    table,
    threshold_for,
)
from cache.calibrate_scale import ScaleRow, format_scale, scale_curve
from cache.calibrate_sources import SourceRow, by_source, format_sources
from cache.calibrate_verified import VerifiedRun, format_run, replay
from server.config import ConfigError, load_settings
from server.settings import Settings, semantic_threshold_for


class CalibrationReport(msgspec.Struct, frozen=True):
    """What ``frugal calibrate --json`` prints: the settings measured and the results."""

    embedder: str
    judge: str | None  # the pair judge's name, None when off
    configured_threshold: float
    max_unknown_token_ratio: float
    pairs: int
    positives: int
    rows: list[CalibrationRow]
    target_precision: float | None
    target: CalibrationRow | None
    scale: list[ScaleRow]
    verified: VerifiedRun | None = None
    by_source: list[SourceRow] = msgspec.field(default_factory=list)


def build_parser() -> argparse.ArgumentParser:
    """The command's options (see the module docstring)."""
    parser = argparse.ArgumentParser(
        prog="frugal calibrate",
        description="Measure the configured semantic cache on labelled query pairs.",
    )
    parser.add_argument("pairs", type=Path, nargs="+", help="JSONL/CSV/TSV files of a, b, same")
    parser.add_argument("--json", action="store_true", help="print the results as JSON")
    parser.add_argument("--thresholds", type=_parse_floats, default=DEFAULT_THRESHOLDS)
    parser.add_argument(
        "--target-precision", type=float, help="print the threshold reaching this precision"
    )
    parser.add_argument(
        "--max-unknown-ratio", type=float, help="default: the configured max_unknown_token_ratio"
    )
    parser.add_argument(
        "--scale", type=_parse_sizes, default=(), help="distractor counts, e.g. 0,1000,10000"
    )
    parser.add_argument("--distractors", type=Path, help="texts to fill the index with (--scale)")
    parser.add_argument(
        "--verify", action="store_true", help="replay the pairs through verified hits"
    )
    parser.add_argument(
        "--max-error-rate", type=float, help="default: the configured semantic_max_error_rate"
    )
    parser.add_argument(
        "--verify-floor", type=float, help="default: the configured semantic_verify_floor"
    )
    parser.add_argument(
        "--judge-accuracy", type=float, default=1.0, help="how often the judge is right"
    )
    parser.add_argument(
        "--by-source",
        action="store_true",
        help="hits per pair source at the configured threshold",
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``frugal calibrate``; returns the process exit status."""
    args = build_parser().parse_args(argv)
    try:
        settings = load_settings()
        pairs = [pair for path in args.pairs for pair in read_pairs(path)]
        distractors = _read_texts(args.distractors) if args.distractors else []
    except (OSError, ValueError, ConfigError) as exc:
        print(f"frugal calibrate: {exc}", file=sys.stderr)
        return 2
    if args.scale and not distractors:
        print("frugal calibrate: --scale needs --distractors", file=sys.stderr)
        return 2
    report = anyio.run(_measure, settings, args, pairs, distractors)
    if args.json:
        print(msgspec.json.encode(report).decode())
        return 0
    print(
        f"embedder {report.embedder}, judge {report.judge or 'off'},"
        f" max_unknown_token_ratio {report.max_unknown_token_ratio}:"
        f" {report.pairs} pairs, {report.positives} labelled same"
    )
    print(format_table(report.rows))
    if args.target_precision is not None:
        if report.target is None:
            print(f"no threshold reaches {args.target_precision:.3f} precision")
        else:
            print(
                f"precision >= {args.target_precision:.3f} from threshold "
                f"{report.target.threshold:.3f}: recall {100 * (report.target.recall or 0.0):.1f}%"
            )
    if report.scale:
        print("false hits vs cache size (top-4 neighbours, the first accepted is served):")
        print(format_scale(report.scale))
    if report.verified is not None:
        print(format_run(report.verified))
    if report.by_source:
        print(format_sources(report.by_source, report.configured_threshold))
    return 0


async def _measure(
    settings: Settings,
    args: argparse.Namespace,
    pairs: list[LabelledPair],
    distractors: list[str],
) -> CalibrationReport:
    from server.composition import open_embedder, open_pair_judge  # models load when run

    max_unknown = args.max_unknown_ratio
    if max_unknown is None:
        max_unknown = settings.cache.max_unknown_token_ratio
    async with contextlib.AsyncExitStack() as stack:
        session = await stack.enter_async_context(aiohttp.ClientSession())
        embedder, unknown_ratio, truncated = await open_embedder(settings, session, stack)
        c = settings.cache
        configured = semantic_threshold_for(c, settings.embedder)
        rule = AcceptRule(
            configured, max_unknown, unknown_ratio, truncated, c.semantic_ambiguity_margin
        )
        judge = await open_pair_judge(settings, stack)
        scored = await score_pairs(pairs, embedder, rule, judge, c.semantic_judge_min_probability)
        scale = []
        if args.scale:
            scale = await scale_curve(
                pairs,
                distractors,
                args.scale,
                embedder,
                rule,
                args.thresholds,
                judge,
                c.semantic_judge_min_probability,
            )
    target = None
    if args.target_precision is not None:
        target = threshold_for(scored, args.target_precision)
    verified = None
    if args.verify:
        verified = replay(
            pairs,
            scored,
            max_error_rate=args.max_error_rate or c.semantic_max_error_rate,
            floor=args.verify_floor or c.semantic_verify_floor,
            judge_accuracy=args.judge_accuracy,
        )
    return CalibrationReport(
        embedder=embedder.name,
        judge=None if judge is None else judge.name,
        configured_threshold=configured,
        max_unknown_token_ratio=max_unknown,
        pairs=len(pairs),
        positives=sum(p.same for p in pairs),
        rows=table(scored, args.thresholds),
        target_precision=args.target_precision,
        target=target,
        scale=scale,
        verified=verified,
        by_source=by_source(pairs, scored, configured) if args.by_source else [],
    )


def _read_texts(path: Path) -> list[str]:
    if path.suffix in (".jsonl", ".csv", ".tsv"):
        return [text for pair in read_pairs(path) for text in (pair.a, pair.b)]
    return [line for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def _parse_floats(text: str) -> tuple[float, ...]:
    try:
        values = tuple(float(part) for part in text.split(",") if part.strip())
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"not a list of numbers: {text!r}") from exc
    if not values or not all(0.0 < v <= 1.0 for v in values):
        raise argparse.ArgumentTypeError("thresholds must be in (0, 1]")
    return values


def _parse_sizes(text: str) -> tuple[int, ...]:
    try:
        values = tuple(int(part) for part in text.split(",") if part.strip())
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"not a list of counts: {text!r}") from exc
    if not values or min(values) < 0:
        raise argparse.ArgumentTypeError("counts must be 0 or more")
    return values
