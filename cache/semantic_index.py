"""An in-process cosine-similarity index: a two-stage scan over compact numpy matrices.

Each row is kept twice, compactly (100k x 384 takes 44 MB in all, so the process, MiniLM
included, stays inside its memory budget):

* a sign code: one bit per dimension of the row under a fixed random rotation (SimHash, 48
  bytes for 384 dims). The Hamming distance between two codes estimates the angle between the
  vectors (each bit differs with probability angle / pi); it costs an XOR + popcount per word;
* the row quantised to int8 with one float32 scale, chosen so the dequantised row has unit
  norm: that cancels the first-order error for close pairs, so scores at cosine >= 0.85 are
  within ~7e-4 of float32 (measured on MiniLM vectors), about as good as bfloat16 at half size.

A search ranks every live row of the partition by Hamming distance (stage 1, ~10 bytes of
memory traffic per row), then rescores from the int8 rows the best `_CANDIDATES` and any other
row close enough that it might score >= `_SURE_COSINE` (stage 2). A partition with at most
`_EXACT_UP_TO` live rows is rescored whole, i.e. exactly.

Each entry belongs to a partition (any hashable, e.g. ``(tenant, tier, embedder)``), encoded as
a small int; a search only returns live entries of its partition. When full, expired entries
are evicted first, else one chosen by CLOCK (second chance): `touch` sets a used bit, and the
clock hand evicts the first entry whose bit is clear, clearing bits as it passes.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Hashable

import numpy as np
import numpy.typing as npt

_FREE = 0  # partition code of an unused slot; real partitions count from 1
_CANDIDATES = 512  # stage-2 rescoring is ~0.1 ms for these; recall is measured in the bench
# Up to this many live rows, skip stage 1 and rescore them all. Rescoring costs ~0.5 us a row
# (2,048 rows took ~1 ms on a miss), while stage 1 is ~0.02 us a row: so only small partitions.
_EXACT_UP_TO = _CANDIDATES
_MAX_RESCORE = 4096  # the most rows stage 2 rescores (~0.5 ms), however dense the neighbourhood
_SURE_COSINE = 0.85  # rows at least this close are shortlisted all but surely (see _guard)
# Above this many slots, stage 1 first narrows the rows down with one code word.
_PREFILTER_ABOVE = 1 << 18
_PREFILTER_KEEP = 1 << 12
_PREFILTER_SAMPLE = 16
_HAND_STRIDE = 4096  # CLOCK inspects this many used bits per numpy step
_ROTATION_SEED = 0x5EED  # any fixed seed: codes only need to agree within one process

F32 = npt.NDArray[np.float32]


class SemanticIndex:
    """Top-k cosine search over bounded, expiring, partitioned vectors.

    Not thread-safe: callers serialise access (`cache.semantic_cache.SemanticCache` holds a lock
    and may run `search` in a worker thread).
    """

    def __init__(
        self,
        dim: int,
        max_entries: int,
        clock: Callable[[], float] = time.monotonic,
        *,
        prefilter_above: int = _PREFILTER_ABOVE,
        prefilter_keep: int = _PREFILTER_KEEP,
    ) -> None:
        if dim < 1 or max_entries < 1:
            raise ValueError("dim and max_entries must be at least 1")
        self.dim = dim
        self.max_entries = max_entries
        self._clock = clock
        self._prefilter_above, self._prefilter_keep = prefilter_above, prefilter_keep
        self._words = -(-dim // 64)
        self._rotation = _rotation(dim, 64 * self._words)
        self._guard = _guard_distance(64 * self._words, _SURE_COSINE)
        # Reserved whole: np.zeros maps untouched pages lazily, so RSS follows the rows written
        # and nothing is ever copied to grow. Codes are stored word-major so that stage 1 runs
        # one contiguous pass per 64-bit word.
        self._codes = np.zeros((self._words, max_entries), dtype=np.uint64)
        self._rows = np.zeros((max_entries, dim), dtype=np.int8)
        self._scale = np.zeros(max_entries, dtype=np.float32)
        self._part = np.zeros(max_entries, dtype=np.int32)
        self._expires = np.zeros(max_entries, dtype=np.float64)
        self._used = np.zeros(max_entries, dtype=np.bool_)  # CLOCK's second-chance bits
        # Stage-1 scratch, reused by every search.
        self._xor = np.zeros(max_entries, dtype=np.uint64)
        self._pop = np.zeros(max_entries, dtype=np.uint8)
        self._dist = np.zeros(max_entries, dtype=np.uint16)
        self._ids: list[str | None] = []  # slot -> id, for slots [0, high)
        self._slot_of: dict[str, int] = {}
        self._free: list[int] = []  # released slots below high
        self._hand = 0
        self._earliest_expiry = math.inf  # lower bound over live entries: skips futile scans
        self._partitions: dict[Hashable, int] = {}

    def __len__(self) -> int:
        """Entries held, including expired ones not yet evicted."""
        return len(self._slot_of)

    def __contains__(self, entry_id: object) -> bool:
        return entry_id in self._slot_of

    @property
    def capacity(self) -> int:
        """Slots available: all ``max_entries`` are reserved up front, but memory becomes
        resident only as rows are written."""
        return self.max_entries

    @property
    def nbytes(self) -> int:
        """Bytes of the numpy arrays, counted whole though only written rows are resident."""
        arrays = (
            self._codes, self._rows, self._scale, self._part, self._expires, self._used,
            self._xor, self._pop, self._dist, self._rotation,
        )  # fmt: skip
        return sum(int(a.nbytes) for a in arrays)

    def add(
        self,
        entry_id: str,
        vector: npt.ArrayLike,
        partition: Hashable,
        expires_at: float = math.inf,
    ) -> list[str]:
        """Insert or replace ``entry_id``; return the ids evicted to make room (usually none)."""
        unit = _unit(vector, self.dim)
        code = self._partitions.setdefault(partition, len(self._partitions) + 1)
        evicted: list[str] = []
        slot = self._slot_of.get(entry_id)
        if slot is None:
            slot = self._claim_slot(evicted)
            self._slot_of[entry_id] = slot
            self._ids[slot] = entry_id
            self._used[slot] = False
        else:
            self._used[slot] = True  # replacing counts as a use, as it did for LRU
        self._codes[:, slot] = self._sign_code(unit)
        peak = float(np.max(np.abs(unit)))
        quantised = np.rint(unit * np.float32(127.0 / peak)).astype(np.int8)
        self._rows[slot] = quantised
        self._scale[slot] = 1.0 / float(np.linalg.norm(quantised.astype(np.float32)))
        self._part[slot] = code
        self._expires[slot] = expires_at
        self._earliest_expiry = min(self._earliest_expiry, expires_at)
        return evicted

    def remove(self, entry_id: str) -> bool:
        """Drop ``entry_id``; return whether it was present."""
        slot = self._slot_of.get(entry_id)
        if slot is None:
            return False
        self._release(slot)
        return True

    def expires_at(self, entry_id: str) -> float | None:
        """When ``entry_id`` expires, on this index's clock (``inf``: never); None when it is
        not held. An expired entry not yet evicted still answers."""
        slot = self._slot_of.get(entry_id)
        return None if slot is None else float(self._expires[slot])

    def touch(self, entry_id: str) -> None:
        """Mark ``entry_id`` as used, so eviction passes over it once."""
        slot = self._slot_of.get(entry_id)
        if slot is not None:
            self._used[slot] = True

    def purge_expired(self) -> list[str]:
        """Evict every expired entry now; return their ids."""
        high = len(self._ids)
        now = self._clock()
        if high == 0 or now < self._earliest_expiry:
            return []
        live = self._part[:high] != _FREE
        expired = live & (self._expires[:high] <= now)
        remaining = self._expires[:high][live & ~expired]
        self._earliest_expiry = float(remaining.min()) if remaining.size else math.inf
        return [self._release(int(slot)) for slot in np.flatnonzero(expired)]

    def search(
        self,
        vector: npt.ArrayLike,
        partition: Hashable,
        k: int = 4,
        *,
        min_score: float | None = None,
    ) -> list[tuple[str, float]]:
        """Return up to ``k`` ``(id, cosine)`` pairs, best first, among live entries of
        ``partition``; with ``min_score``, only those scoring at least that. Empty on a miss.

        Approximate only in which rows get rescored: see `_CANDIDATES`.
        """
        code = self._partitions.get(partition)
        high = len(self._ids)
        if code is None or high == 0 or k < 1:
            return []
        query = _unit(vector, self.dim)
        cand = self._shortlist(query, code, high, max(_CANDIDATES, k))
        if cand.size == 0:
            return []
        rows = self._rows[cand].astype(np.float32)
        scores = (rows @ query) * self._scale[cand]
        if min_score is not None:
            keep = scores >= min_score
            cand, scores = cand[keep], scores[keep]
        if cand.size > k:
            top = np.argpartition(-scores, k - 1)[:k]
            cand, scores = cand[top], scores[top]
        order = np.argsort(-scores, kind="stable")
        return [(str(self._ids[cand[i]]), float(scores[i])) for i in order]

    def _shortlist(self, query: F32, code: int, high: int, want: int) -> npt.NDArray[np.intp]:
        """Stage 1: slots of the ``want`` live rows of partition ``code`` nearest in Hamming
        distance to ``query``; all of them when there are few (then the search is exact)."""
        dead = self._part[:high] != code
        if high > self._prefilter_above:  # expiry is checked on the few rows it keeps
            return self._prefiltered(self._sign_code(query), dead, high, want)
        dead |= self._expires[:high] <= self._clock()
        if high - np.count_nonzero(dead) <= max(want, _EXACT_UP_TO):
            return np.flatnonzero(~dead)
        dead_value = 64 * self._words + 1
        sign = self._sign_code(query)
        dist = self._dist[:high]
        xor, pop = self._xor[:high], self._pop[:high]
        for word, q in enumerate(sign):
            np.bitwise_xor(self._codes[word, :high], q, out=xor)
            np.bitwise_count(xor, out=pop)
            if word == 0:
                np.copyto(dist, pop)
            else:
                np.add(dist, pop, out=dist)
        np.copyto(dist, dead_value, where=dead)
        return self._nearest(dist, want, dead_value)

    def _prefiltered(
        self, sign: npt.NDArray[np.uint64], dead: npt.NDArray[np.bool_], high: int, want: int
    ) -> npt.NDArray[np.intp]:
        """Stage 1 for large indexes: the first 64-bit word alone keeps the ``prefilter_keep``
        nearest live rows (one pass instead of one per word), whose full codes then rank them.

        A row at cosine 0.85 differs in ~11 of 64 bits (sd 3); the kept share of unrelated rows
        sits ~9 bits closer than their mean of 32, so it is missed with probability < 1e-4.
        """
        xor, pop = self._xor[:high], self._pop[:high]
        np.bitwise_xor(self._codes[0, :high], sign[0], out=xor)
        np.bitwise_count(xor, out=pop)
        np.copyto(pop, 65, where=dead)
        # The cut-off from a 1-in-16 sample of the distances (a histogram of every row costs
        # more than the rest of the search); the rows kept are then about prefilter_keep.
        sample = pop[::_PREFILTER_SAMPLE]
        below = np.cumsum(np.bincount(sample, minlength=66)[:65])
        wanted = self._prefilter_keep * sample.size // high
        cutoff = min(int(np.searchsorted(below, wanted)), 64)  # 65: the dead
        kept = np.flatnonzero(pop <= cutoff)
        kept = kept[self._expires[kept] > self._clock()]
        codes = self._codes[:, kept]
        np.bitwise_xor(codes, sign[:, None], out=codes)
        dist = np.bitwise_count(codes).sum(axis=0, dtype=np.uint16)
        return kept[self._nearest(dist, want, 64 * self._words + 1)]

    def _nearest(
        self, dist: npt.NDArray[np.uint16], want: int, dead_value: int
    ) -> npt.NDArray[np.intp]:
        """Positions in ``dist`` of the shortlist (see `_shortlist`)."""
        # A histogram of distances (at most bits + 2 bins) finds the cut-off faster than
        # argpartition over every row.
        # The shortlist is the `want` nearest rows, widened to every row within the guard
        # distance (so a crowd of rows at cosine ~0.8 cannot push out the one at 0.86), as far
        # as `_MAX_RESCORE` allows.
        below = np.cumsum(np.bincount(dist, minlength=dead_value + 1)[:dead_value])
        affordable = int(np.searchsorted(below, _MAX_RESCORE, side="right")) - 1
        cutoff = max(int(np.searchsorted(below, want)), min(self._guard, affordable))
        cand = np.flatnonzero(dist <= cutoff)
        if cand.size > max(want, _MAX_RESCORE):  # many ties at the cut-off: keep any of them
            cand = np.sort(cand[np.argpartition(dist[cand], want - 1)[:want]])
        return cand

    def _sign_code(self, unit: F32) -> npt.NDArray[np.uint64]:
        bits = np.packbits((unit @ self._rotation) > 0, bitorder="little")
        return bits.view(np.uint64)

    def _claim_slot(self, evicted: list[str]) -> int:
        if self._free:
            return self._free.pop()
        if len(self._ids) < self.max_entries:
            self._ids.append(None)
            return len(self._ids) - 1
        evicted.extend(self.purge_expired())
        if not self._free:
            evicted.append(self._release(self._clock_victim()))
        return self._free.pop()

    def _clock_victim(self) -> int:
        # Only called when every slot is in use: sweep from the hand for a clear used bit,
        # clearing the bits passed over (their second chance).
        high = len(self._ids)
        while True:
            stop = min(high, self._hand + _HAND_STRIDE)
            window = self._used[self._hand : stop]
            first_clear = int(np.argmin(window))
            if not window[first_clear]:
                victim = self._hand + first_clear
                window[:first_clear] = False
                self._hand = (victim + 1) % high
                return victim
            window[:] = False
            self._hand = stop % high

    def _release(self, slot: int) -> str:
        entry_id = self._ids[slot]
        assert entry_id is not None
        del self._slot_of[entry_id]
        self._ids[slot] = None
        self._part[slot] = _FREE
        self._free.append(slot)
        return entry_id


def _rotation(dim: int, bits: int) -> F32:
    """A fixed random projection to ``bits`` hyperplanes (orthonormal when bits <= dim, which
    keeps the bits as independent as they can be)."""
    gaussian = np.random.default_rng(_ROTATION_SEED).standard_normal((dim, bits))
    if bits <= dim:
        gaussian = np.linalg.qr(gaussian)[0]
    return np.ascontiguousarray(gaussian, dtype=np.float32)


def _guard_distance(bits: int, cosine: float) -> int:
    """A Hamming distance that rows at least ``cosine`` close to the query exceed only with
    probability ~3e-5: each bit differs with probability angle / pi, so the distance is about
    binomial; this is its mean plus four standard deviations."""
    p = math.acos(cosine) / math.pi
    return math.ceil(bits * p + 4 * math.sqrt(bits * p * (1 - p)))


def _unit(vector: npt.ArrayLike, dim: int) -> F32:
    v = np.asarray(vector, dtype=np.float32).reshape(-1)
    if v.shape[0] != dim:
        raise ValueError(f"expected a vector of {dim} floats, got {v.shape[0]}")
    norm = float(np.linalg.norm(v))
    if not math.isfinite(norm) or norm == 0.0:
        raise ValueError("vector must be finite and non-zero")
    return v / np.float32(norm)
