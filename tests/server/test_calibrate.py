"""frugal calibrate: the configured embedder wired to the cache's calibration."""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

import msgspec
import pytest

from server.calibrate import CalibrationReport, main

_PAIRS = Path(str(files("cache") / "data" / "calibration_pairs.jsonl"))


def test_main_prints_json_report_with_the_configured_embedder(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert (
        main([str(_PAIRS), "--json", "--thresholds", "0.85,0.92", "--target-precision", "1"]) == 0
    )
    report = msgspec.json.decode(capsys.readouterr().out, type=CalibrationReport)
    assert report.embedder == "all-MiniLM-L6-v2-int8"  # the default runtime, as served
    assert report.judge == "all-MiniLM-L6-v2-pair-judge"  # and the pair judge, as served
    # MiniLM's threshold with the judge deciding.
    assert (report.configured_threshold, report.max_unknown_token_ratio) == (0.88, 0.10)
    assert [r.threshold for r in report.rows] == [0.85, 0.92]
    at_default = report.rows[1]
    assert at_default.false_hit_rate == 0.0  # guards stop every labelled near miss
    assert at_default.recall is not None and at_default.recall > 0.6
    assert report.target is not None and report.target.precision == 1.0


def test_it_measures_the_multilingual_embedder_at_its_own_threshold(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("FRUGAL_EMBEDDER_MODEL", "multilingual-e5-small")
    chinese = tmp_path / "zh.jsonl"
    lines = [line for line in _PAIRS.read_text().splitlines() if not line.isascii()]
    chinese.write_text("\n".join(lines))
    assert main([str(chinese), "--json", "--thresholds", "0.985"]) == 0
    report = msgspec.json.decode(capsys.readouterr().out, type=CalibrationReport)
    assert report.embedder == "multilingual-e5-small-q4"
    assert report.configured_threshold == 0.985  # the model's own default, not MiniLM's 0.92
    row = report.rows[0]
    # Chinese is represented (MiniLM refuses it), and the guards stop every labelled near miss.
    assert row.true_hits >= 3 and row.false_hits == 0, row


def test_max_unknown_ratio_is_configurable(capsys: pytest.CaptureFixture[str]) -> None:
    # At 1.0 nothing is refused as unrepresentable, so the Chinese pairs reach the guards.
    assert main([str(_PAIRS), "--json", "--thresholds", "0.5", "--max-unknown-ratio", "1"]) == 0
    loose = msgspec.json.decode(capsys.readouterr().out, type=CalibrationReport)
    assert main([str(_PAIRS), "--json", "--thresholds", "0.5"]) == 0
    strict = msgspec.json.decode(capsys.readouterr().out, type=CalibrationReport)
    assert loose.max_unknown_token_ratio == 1.0
    assert loose.rows[0].accepted > strict.rows[0].accepted


def test_text_output_shows_three_decimals_and_the_scale_table(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    distractors = tmp_path / "distractors.txt"
    distractors.write_text("What time is it in Tokyo?\nPlay some jazz\nHow tall is Everest?\n")
    args = [
        str(_PAIRS),
        "--thresholds",
        "0.925",
        "--scale",
        "0,3",
        "--distractors",
        str(distractors),
    ]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "    0.925  " in out
    assert "false hits vs cache size" in out


def test_main_rejects_missing_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main([str(tmp_path / "nope.jsonl")]) == 2
    assert "nope.jsonl" in capsys.readouterr().err


def test_scale_without_distractors_is_refused(capsys: pytest.CaptureFixture[str]) -> None:
    assert main([str(_PAIRS), "--scale", "10"]) == 2
    assert "--distractors" in capsys.readouterr().err


def test_verify_replays_the_pairs_with_the_label_as_judge(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main([str(_PAIRS), "--json", "--verify", "--max-error-rate", "0.1"]) == 0
    report = msgspec.json.decode(capsys.readouterr().out, type=CalibrationReport)
    run = report.verified
    assert run is not None and run.max_error_rate == 0.1 and run.floor == 0.8
    assert run.judge_calls >= 1 and run.served_wrong == 0  # a perfect judge serves no wrong
    at_default = next(row for row in report.rows if row.threshold == 0.92)
    assert run.recall is not None and run.recall >= (at_default.recall or 0.0)


def test_by_source_counts_each_sources_hits_at_the_configured_threshold(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    pairs = tmp_path / "pairs.jsonl"
    lines = [
        {"a": "How many miles is it from Los Angeles to San Francisco?",
         "b": "How many kilometers is it from Los Angeles to San Francisco?",
         "same": False, "source": "neg:unit"},
        {"a": "How do I reset my password?", "b": "How can I reset my password?",
         "same": True, "source": "para:synonyms"},
        {"a": "Where is my parcel?", "b": "Which cards do you accept?", "same": False},
    ]  # fmt: skip
    pairs.write_bytes(b"\n".join(msgspec.json.encode(line) for line in lines))
    assert main([str(pairs), "--json", "--by-source"]) == 0
    report = msgspec.json.decode(capsys.readouterr().out, type=CalibrationReport)
    rows = {r.source: r for r in report.by_source}
    assert list(rows) == ["-", "neg:unit", "para:synonyms"]
    # The unit swap scores like a paraphrase; the unit guard refuses it.
    unit = rows["neg:unit"]
    assert (unit.pairs, unit.positives, unit.cosine_hits, unit.false_hits) == (1, 0, 1, 0)
    para = rows["para:synonyms"]
    assert (para.positives, para.true_hits, para.false_hits) == (1, 1, 0)
    assert (rows["-"].cosine_hits, rows["-"].false_hits) == (0, 0)
    assert main([str(pairs), "--by-source"]) == 0
    text = capsys.readouterr().out
    assert "by source at threshold 0.880:" in text
    assert "neg:unit" in text


def test_without_by_source_the_report_has_no_rows(capsys: pytest.CaptureFixture[str]) -> None:
    assert main([str(_PAIRS), "--json", "--thresholds", "0.92"]) == 0
    report = msgspec.json.decode(capsys.readouterr().out, type=CalibrationReport)
    assert report.by_source == []


def test_with_the_judge_off_the_rules_alone_are_measured(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FRUGAL_CACHE_SEMANTIC_JUDGE", "off")
    assert main([str(_PAIRS), "--json", "--thresholds", "0.92"]) == 0
    report = msgspec.json.decode(capsys.readouterr().out, type=CalibrationReport)
    assert report.judge is None and report.configured_threshold == 0.92
