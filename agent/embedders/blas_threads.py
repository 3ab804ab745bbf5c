"""Cap the number of threads numpy's OpenBLAS uses, without threadpoolctl.

Why, measured on this 2-core box (``python -m bench embedder``): two BLAS threads cut a lone
12-word query from ~9 to ~6.4 ms p50 when the other core is idle, but its p99 jumps to
40-350 ms whenever anything else wants that core (OpenBLAS workers spin), and a micro-batched
load costs 9.5 CPU ms per query instead of 4.2. So the embedder runs one single-threaded forward
per core instead. The setting is process-wide (OpenBLAS's ``*_local`` variant turned out to be
global as well); it is found with ctypes in whichever OpenBLAS the process has loaded, and is a
no-op for any other BLAS.
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
