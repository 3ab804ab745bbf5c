"""Cap the number of threads numpy's OpenBLAS uses, without threadpoolctl.

Why: on a 2-core box OpenBLAS's worker threads make one lone forward pass somewhat faster, but
as soon as a second forward (or anything else) wants the other core, its spinning workers cost
far more than they gave (measured numbers in `bench/bench_embedder.py`'s notes and the
embedder's docs). The embedder runs one single-threaded forward per core instead. The setting is
process-wide (OpenBLAS's ``*_local`` variant turned out to be global too); it is found with
ctypes in whichever OpenBLAS the process has loaded, and is a no-op for any other BLAS.
"""

from __future__ import annotations

import ctypes
from collections.abc import Callable
from functools import cache
from pathlib import Path

# Plain OpenBLAS, its 64-bit-int build, and numpy's scipy-openblas wheels (prefixed symbols).
_SYMBOLS = (
    "openblas_set_num_threads",
    "openblas_set_num_threads64_",
    "scipy_openblas_set_num_threads64_",
    "scipy_openblas_set_num_threads",
)


@cache
def _setter() -> Callable[[int], None] | None:
    try:
        maps = Path("/proc/self/maps").read_text()
    except OSError:
        return None
    paths = {line.split()[-1] for line in maps.splitlines() if "openblas" in line.lower()}
    for path in sorted(paths):
        try:
            lib = ctypes.CDLL(path)
        except OSError:
            continue
        for symbol in _SYMBOLS:
            fn = getattr(lib, symbol, None)
            if fn is not None:
                fn.argtypes = [ctypes.c_int]
                fn.restype = None
                return fn  # type: ignore[no-any-return]
    return None


def limit_blas_threads(n: int) -> bool:
    """Make every later BLAS call in this process use at most *n* threads; False if no OpenBLAS.

    Call after numpy is imported (it loads OpenBLAS).
    """
    fn = _setter()
    if fn is None:
        return False
    fn(n)
    return True
