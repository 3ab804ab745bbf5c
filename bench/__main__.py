"""Run every ``bench/bench_*.py`` module's ``main()`` in turn (``python -m bench [name ...]``).

Names given on the command line (``embedder``, ``store``...) select a subset.
``python -m bench faults [--size small|full]`` is the fault-injection run instead
(`bench.faults.run`): not a benchmark, a check that exits non-zero when a target is missed.
"""

from __future__ import annotations

import importlib
import pkgutil
import sys
import time

import bench


def main(argv: list[str]) -> int:
    if argv[:1] == ["faults"]:
        from bench.faults.run import main as faults

        return faults(argv[1:])
    wanted = set(argv)
    names = sorted(
        info.name
        for info in pkgutil.iter_modules(bench.__path__)
        if info.name.startswith("bench_") and (not wanted or info.name[6:] in wanted)
    )
    if not names:
        print(f"no benchmark matches {sorted(wanted)}", file=sys.stderr)
        return 2
    for name in names:
        print(f"== {name} ==", flush=True)
        started = time.perf_counter()
        importlib.import_module(f"bench.{name}").main()
        print(f"({time.perf_counter() - started:.1f} s)\n", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
