"""Keep glibc from handing numpy's per-pass scratch memory back to the kernel.

A forward pass allocates a few temporaries of 0.1-10 MB per layer. With glibc's defaults, blocks
that large are served by ``mmap`` and unmapped on free (and the heap top is trimmed), so every
pass page-faults the same memory back in: measured, about a third of a query's time went to the
kernel. Raising the mmap and trim thresholds keeps those pages in the process after the first
pass. It is process-wide and idempotent; elsewhere (musl, macOS, Windows) it does nothing.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import platform
import sys

# From <malloc.h>.
_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3
# glibc caps the mmap threshold at 32 MiB on 64-bit (HEAP_MAX/2 of DEFAULT_MMAP_THRESHOLD_MAX);
# a larger value is rejected outright, so ask for exactly the cap.
MMAP_THRESHOLD_BYTES = 32 * 1024 * 1024
TRIM_THRESHOLD_BYTES = 256 * 1024 * 1024


def keep_freed_memory_mapped() -> bool:
    """Raise glibc's mmap/trim thresholds once; returns whether both settings took effect."""
    if not sys.platform.startswith("linux") or platform.libc_ver()[0] != "glibc":
        return False
    libc_name = ctypes.util.find_library("c") or "libc.so.6"
    try:
        libc = ctypes.CDLL(libc_name)
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    mallopt.restype = ctypes.c_int
    ok_mmap = bool(mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD_BYTES) == 1)
    ok_trim = bool(mallopt(_M_TRIM_THRESHOLD, TRIM_THRESHOLD_BYTES) == 1)
    return ok_mmap and ok_trim
