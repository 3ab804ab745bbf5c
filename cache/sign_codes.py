"""Sign codes (SimHash) for `cache.semantic_index`: the fixed rotation, the Hamming distance a
close row stays within, and the cut-off of the large-index first-word pass.

Each bit of a code is the sign of the row under one random hyperplane, so two rows' bits differ
with probability angle / pi: the Hamming distance between codes estimates their angle.
"""

from __future__ import annotations

import functools
import math

import numpy as np
import numpy.typing as npt

F32 = npt.NDArray[np.float32]
_ROTATION_SEED = 0x5EED  # any fixed seed: codes only need to agree within one process
_SAMPLE_SHARE = 32  # the cut-off's sample is about 1 row in this many
_SAMPLE_RUNS = 64  # ... taken as this many runs of consecutive slots (a strided read costs more)


def rotation(dim: int, bits: int) -> F32:
    """A fixed random projection to ``bits`` hyperplanes (orthonormal when bits <= dim, which
    keeps the bits as independent as they can be)."""
    gaussian = np.random.default_rng(_ROTATION_SEED).standard_normal((dim, bits))
    if bits <= dim:
        gaussian = np.linalg.qr(gaussian)[0]
    return np.ascontiguousarray(gaussian, dtype=np.float32)


@functools.lru_cache(maxsize=64)  # callers pass few distinct floors
def guard_distance(bits: int, cosine: float) -> int:
    """A Hamming distance that rows at least ``cosine`` close to the query exceed only with
    probability ~3e-5: each bit differs with probability angle / pi, so the distance is about
    binomial; this is its mean plus four standard deviations."""
    p = math.acos(cosine) / math.pi
    return math.ceil(bits * p + 4 * math.sqrt(bits * p * (1 - p)))


def unit_vector(vector: npt.ArrayLike, dim: int) -> F32:
    """``vector`` as float32 of unit length; ValueError if it has another size, is zero or is
    not finite."""
    v = np.asarray(vector, dtype=np.float32).reshape(-1)
    if v.shape[0] != dim:
        raise ValueError(f"expected a vector of {dim} floats, got {v.shape[0]}")
    norm = math.sqrt(float(v @ v))  # np.linalg.norm's checks cost more than the sum here
    if not math.isfinite(norm) or norm == 0.0:
        raise ValueError("vector must be finite and non-zero")
    return v / np.float32(norm)


def sample_cutoff(
    first_words: npt.NDArray[np.uint64],
    parts: npt.NDArray[np.int32] | None,
    word: np.uint64,
    code: int,
    count: int,
    keep: int,
) -> int:
    """The first-word distance to ``word`` below which about ``keep`` of partition ``code``'s
    ``count`` rows fall, estimated from a sample of the slots (a histogram of every row costs
    more than the rest of the search). ``parts``: each slot's partition, None when every slot
    is the partition's."""
    high = first_words.shape[0]
    runs = min(_SAMPLE_RUNS, high)
    every = high // runs
    length = max(1, every // _SAMPLE_SHARE)
    pop = np.bitwise_count(first_words[: runs * every].reshape(runs, every)[:, :length] ^ word)
    if parts is not None:
        other = parts[: runs * every].reshape(runs, every)[:, :length] != code
        np.copyto(pop, 65, where=other)
    below = np.cumsum(np.bincount(pop.ravel(), minlength=66)[:65])
    wanted = max(1, keep * int(below[-1]) // count)  # none sampled: 1
    return min(int(np.searchsorted(below, wanted)), 64)  # 64: every row of the partition
