"""``frugal kb ingest|list|delete`` against a file store, as a user runs them."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from server.cli import main

FIXTURES = Path(__file__).parents[1] / "fixtures" / "kb_docs"
CONFIG = """
[[agents.definitions]]
name = "handbook"
planner = "rules"
knowledge_bases = ["docs"]

[[agents.knowledge_bases]]
name = "docs"
paths = ["docs"]
"""


def test_ingest_list_and_delete(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    shutil.copytree(FIXTURES, tmp_path / "docs")
    (tmp_path / "frugal.toml").write_text(CONFIG)
    monkeypatch.setenv("FRUGAL_CONFIG", str(tmp_path / "frugal.toml"))
    assert main(["kb", "ingest", "docs"]) == 0
    out = capsys.readouterr().out
    assert "added 9, changed 0, removed 0" in out and "+ manual.pdf" in out
    assert (tmp_path / ".frugal" / "kb" / "docs" / "snapshot.msgpack").exists()
    assert main(["kb", "ingest", "docs"]) == 0
    assert "(0 embedded)" in capsys.readouterr().out  # nothing changed: nothing re-embedded
    assert main(["kb", "delete", "docs", "warranty.txt"]) == 0
    assert "- warranty.txt" in capsys.readouterr().out
    assert main(["kb", "list", "docs"]) == 0
    listed = capsys.readouterr().out.split()
    assert "manual.pdf" in listed and "warranty.txt" not in listed
    assert main(["kb", "ingest", "nope"]) == 2
