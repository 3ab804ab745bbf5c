"""``python -m bench faults --size small`` meets every target (the full size is `make faults`).

It runs its own redis-server, simulators and two gateway processes for about a minute, so it
is grouped on its own xdist worker (``make test`` distributes with ``--dist loadgroup``).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
@pytest.mark.xdist_group("bench_faults")
@pytest.mark.timeout(400)
def test_small_fault_run_meets_every_target() -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run(
        [sys.executable, "-P", "-m", "bench", "faults", "--size", "small"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=380,
        check=False,
    )
    print(done.stdout)
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-4000:]
    assert "| requests served under the tight cap" in done.stdout
