"""A lookup asks the guards for the first difference only: the same verdict as every kind."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from cache.guards import differences

_PAIR_FILES = ("dev_people", "dev_roles", "dev_probes", "dev_adversarial", "dev_quora")


def _dev_pairs() -> list[tuple[str, str]]:
    folder = Path(__file__).resolve().parents[2] / "bench" / "data" / "semantic"
    pairs = []
    for name in _PAIR_FILES:
        for line in (folder / f"{name}.jsonl").read_text(encoding="utf-8").splitlines():
            if line.strip():
                row = json.loads(line)
                pairs.append((row["a"], row["b"]))
    return pairs


def test_first_kind_gives_the_verdict_of_every_kind() -> None:
    # A lookup asks for the first kind only; on every dev pair, both ways, it refuses exactly
    # when the full comparison does, and names a kind the full comparison names.
    pairs = _dev_pairs()
    assert len(pairs) > 600
    for a, b in pairs:
        for x, y in ((a, b), (b, a)):
            every, first = differences(x, y), differences(x, y, first=True)
            assert bool(every) == bool(first), (x, y)
            assert first == every[:1], (x, y)


@pytest.mark.parametrize(
    ("a", "b", "first"),
    [
        # a number found first: the word-order checks are not asked
        ("move $20 from savings to checking", "move $30 from checking to savings", ["money"]),
        # an inverse comparison still clears what the first readings found
        ("is gold heavier than lead?", "is lead lighter than gold?", []),
        ("is gold 2 times heavier than lead?", "is lead 2 times lighter than gold?", []),
        ("is gold heavier than lead?", "is lead heavier than gold?", ["order"]),
    ],
)
def test_first_kind(a: str, b: str, first: list[str]) -> None:
    assert differences(a, b, first=True) == first
    assert differences(a, b)[:1] == first
