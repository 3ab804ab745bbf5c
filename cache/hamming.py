"""Stage 1 of `cache.semantic_index`: Hamming distances between a query's sign code and the
stored ones, in the C kernels of ``cache/_hamming.c`` when they were built, else in numpy.

numpy runs XOR, popcount, add and compare as separate passes through scratch arrays, with a
scalar 64-bit popcount; the kernels fuse them and use AVX-512 VPOPCNTDQ where the CPU has it.
Timed alone on 2 shared cores: the first-word pass over 1M codes ~0.35 ms against ~0.8, six
words over 100k rows ~0.17 against ~0.45. Whole searches, both ways in one run:
`python -m bench.bench_semantic_backends --no-e2e` (rows "memory" and "numpy").

The kernels are a plain shared library called through ctypes (which drops the GIL for the
call): no CPython API, so nothing in them can leak a reference. Both implementations give the
same results (``tests/cache/test_hamming.py``).
"""

from __future__ import annotations

import ctypes
import importlib.machinery
import logging
from pathlib import Path
from typing import Protocol

import numpy as np
import numpy.typing as npt

U64 = npt.NDArray[np.uint64]
U16 = npt.NDArray[np.uint16]
I32 = npt.NDArray[np.int32]
Slots = npt.NDArray[np.intp]

_BLOCK = 1 << 16  # numpy: rows per first-word step, so its scratch (~650 KB) stays in L2
_log = logging.getLogger(__name__)


class HammingPasses(Protocol):
    """The stage-1 passes over sign codes; one instance per index (it may own scratch)."""

    kind: str  # "native" or "numpy"

    @property
    def nbytes(self) -> int:
        """Bytes of scratch held."""
        ...

    def distances(self, codes: U64, high: int, query: U64, out: U16) -> None:
        """``out[i]``: bits in which row ``i < high`` differs from ``query``; ``codes`` is
        word-major, ``(words, capacity)``."""
        ...

    def near_first_word(
        self, first: U64, word: np.uint64, cutoff: int, parts: I32 | None, part: int
    ) -> Slots:
        """Rows ``i`` whose ``first[i]`` differs from ``word`` in at most ``cutoff`` bits (and,
        given ``parts``, with ``parts[i] == part``), in increasing order. Valid until the next
        call."""
        ...

    def row_distances(self, rows: U64, slots: Slots, query: U64) -> U16:
        """Bits in which each ``rows[slots[k]]`` (row-major codes) differs from ``query``."""
        ...


class NumpyPasses:
    """The passes in numpy, with scratch for ``scratch_rows`` rows at a time."""

    kind = "numpy"

    def __init__(self, scratch_rows: int) -> None:
        self._xor = np.zeros(scratch_rows, dtype=np.uint64)
        self._pop = np.zeros(scratch_rows, dtype=np.uint8)
        self._kept = np.zeros(min(scratch_rows, _BLOCK), dtype=np.bool_)

    @property
    def nbytes(self) -> int:
        return int(self._xor.nbytes + self._pop.nbytes + self._kept.nbytes)

    def distances(self, codes: U64, high: int, query: U64, out: U16) -> None:
        xor, pop = self._xor[:high], self._pop[:high]
        for word, q in enumerate(query):
            np.bitwise_xor(codes[word, :high], q, out=xor)
            np.bitwise_count(xor, out=pop)
            if word == 0:
                np.copyto(out, pop)
            else:
                np.add(out, pop, out=out)

    def near_first_word(
        self, first: U64, word: np.uint64, cutoff: int, parts: I32 | None, part: int
    ) -> Slots:
        found = []
        for start in range(0, first.shape[0], _BLOCK):
            stop = min(start + _BLOCK, first.shape[0])
            m = stop - start
            xor, pop, kept = self._xor[:m], self._pop[:m], self._kept[:m]
            np.bitwise_xor(first[start:stop], word, out=xor)
            np.bitwise_count(xor, out=pop)
            np.less_equal(pop, cutoff, out=kept)
            if parts is not None:
                kept &= parts[start:stop] == part
            hits = np.flatnonzero(kept)
            hits += start
            found.append(hits)
        return np.concatenate(found) if found else np.zeros(0, dtype=np.intp)

    def row_distances(self, rows: U64, slots: Slots, query: U64) -> U16:
        codes = np.take(rows, slots, axis=0, mode="clip")  # clip: the slots are valid
        np.bitwise_xor(codes, query, out=codes)
        pop = np.ascontiguousarray(np.bitwise_count(codes).T)
        total: U16 = pop.sum(axis=0, dtype=np.uint16)
        return total


class NativePasses:
    """The passes in ``cache/_hamming.c``; ``capacity``: the most rows a pass may return."""

    kind = "native"

    def __init__(self, library: ctypes.CDLL, capacity: int) -> None:
        self._lib = library
        self._found = np.zeros(capacity, dtype=np.intp)  # pages become resident as written

    @property
    def nbytes(self) -> int:
        return int(self._found.nbytes)

    def distances(self, codes: U64, high: int, query: U64, out: U16) -> None:
        _check(codes, np.uint64, 2)
        _check(out, np.uint16, 1)
        _check(query, np.uint64, 1)
        if out.shape[0] < high or codes.shape[1] < high or query.shape[0] != codes.shape[0]:
            raise ValueError("distances: arrays of mismatched sizes")
        self._lib.hamming_distances(
            codes.ctypes.data, codes.shape[1], codes.shape[0], high, query.ctypes.data,
            out.ctypes.data,
        )  # fmt: skip

    def near_first_word(
        self, first: U64, word: np.uint64, cutoff: int, parts: I32 | None, part: int
    ) -> Slots:
        _check(first, np.uint64, 1)
        n = first.shape[0]
        if n > self._found.shape[0] or (parts is not None and parts.shape[0] < n):
            raise ValueError("near_first_word: arrays of mismatched sizes")
        if parts is not None:
            _check(parts, np.int32, 1)
        found = self._lib.hamming_near_first_word(
            first.ctypes.data, n, int(word), max(0, min(cutoff, 64)),
            None if parts is None else parts.ctypes.data, part, self._found.ctypes.data,
        )  # fmt: skip
        return self._found[:found]

    def row_distances(self, rows: U64, slots: Slots, query: U64) -> U16:
        _check(rows, np.uint64, 2)
        _check(query, np.uint64, 1)
        slots = np.ascontiguousarray(slots, dtype=np.intp)
        if query.shape[0] != rows.shape[1] or (
            slots.size and (int(slots.min()) < 0 or int(slots.max()) >= rows.shape[0])
        ):
            raise ValueError("row_distances: slots or query out of range")
        out = np.empty(slots.shape[0], dtype=np.uint16)
        self._lib.hamming_row_distances(
            rows.ctypes.data, rows.shape[1], slots.ctypes.data, slots.shape[0],
            query.ctypes.data, out.ctypes.data,
        )  # fmt: skip
        return out


def _check(array: npt.NDArray[np.generic], dtype: type[np.generic], ndim: int) -> None:
    # The C side trusts its pointers: a wrong layout here would read the wrong memory.
    if array.dtype != dtype or array.ndim != ndim or not array.flags.c_contiguous:
        raise TypeError(f"expected a C-contiguous {ndim}-d {np.dtype(dtype).name} array")


def _load() -> ctypes.CDLL | None:
    if np.dtype(np.intp).itemsize != 8:  # the kernels take and write slots as int64
        return None
    for suffix in importlib.machinery.EXTENSION_SUFFIXES:
        path = Path(__file__).with_name("_hamming" + suffix)
        if not path.exists():
            continue
        try:
            library = ctypes.CDLL(str(path))
        except OSError as error:
            _log.warning("Hamming kernels at %s do not load (%s): using numpy", path, error)
            return None
        size, pointer = ctypes.c_size_t, ctypes.c_void_p
        library.hamming_level.argtypes, library.hamming_level.restype = [], ctypes.c_int
        library.hamming_distances.argtypes = [pointer, size, size, size, pointer, pointer]
        library.hamming_distances.restype = None
        library.hamming_near_first_word.argtypes = [
            pointer, size, ctypes.c_uint64, ctypes.c_uint, pointer, ctypes.c_int32, pointer,
        ]  # fmt: skip
        library.hamming_near_first_word.restype = size
        library.hamming_row_distances.argtypes = [pointer, size, pointer, size, pointer, pointer]
        library.hamming_row_distances.restype = None
        return library
    return None


_LIBRARY = _load()


def native_level() -> int | None:
    """None without the kernels; else 2 with AVX-512 VPOPCNTDQ, 1 with POPCNT, 0 plain C."""
    return None if _LIBRARY is None else int(_LIBRARY.hamming_level())


def hamming_passes(capacity: int, scratch_rows: int, *, native: bool = True) -> HammingPasses:
    """The native passes when built (and ``native``), else numpy's."""
    if native and _LIBRARY is not None:
        return NativePasses(_LIBRARY, capacity)
    return NumpyPasses(scratch_rows)
