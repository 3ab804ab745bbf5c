"""frugal calibrate: the packaged MiniLM embedder wired to the cache's calibration."""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

import msgspec
import pytest

from cache.calibrate import CalibrationRow
from server.calibrate import main


def test_main_prints_json_rows_with_minilm(capsys: pytest.CaptureFixture[str]) -> None:
    path = Path(str(files("cache") / "data" / "calibration_pairs.jsonl"))
    assert main([str(path), "--json", "--thresholds", "0.85,0.92"]) == 0
    rows = msgspec.json.decode(capsys.readouterr().out, type=list[CalibrationRow])
    assert [r.threshold for r in rows] == [0.85, 0.92]
    at_default = rows[1]
    assert at_default.false_hit_rate == 0.0  # guards stop every labelled near miss
    assert at_default.recall is not None and at_default.recall > 0.6


def test_main_rejects_missing_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main([str(tmp_path / "nope.jsonl")]) == 2
    assert "nope.jsonl" in capsys.readouterr().err
