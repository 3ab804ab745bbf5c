"""An earlier version of the gateway to measure side by side with this one, in one sitting.

`baseline_tree(ref)` checks ``ref`` out into a temporary git worktree (removed afterwards);
`bench.gateway_process.gateway` runs `frugal serve` from it when given its path, with the
same virtualenv, so the two differ only in the gateway's own code. ``make bench`` names the
reference in ``BENCH_BASELINE`` (the last commit before the completion core).
"""

from __future__ import annotations

import os
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

BASELINE_VAR = "BENCH_BASELINE"
REPO = Path(__file__).resolve().parent.parent


def baseline_ref() -> str | None:
    """The git reference to compare with, from ``BENCH_BASELINE`` (unset: none)."""
    return os.environ.get(BASELINE_VAR) or None


@contextmanager
def baseline_tree(ref: str) -> Iterator[Path]:
    """A checkout of ``ref`` for the block's duration."""
    with tempfile.TemporaryDirectory(prefix="frugal-baseline-") as parent:
        tree = Path(parent) / "tree"
        _git("worktree", "add", "--detach", "--quiet", str(tree), ref)
        try:
            yield tree
        finally:
            _git("worktree", "remove", "--force", str(tree))


def _git(*args: str) -> None:
    subprocess.run(["git", "-C", str(REPO), *args], check=True, capture_output=True)
