"""An in-process cosine-similarity index: a two-stage scan over compact numpy matrices.

Each row is kept twice, compactly (100k x 384 takes 44 MB in all, so the process, MiniLM
included, stays inside its memory budget):

* a sign code: one bit per dimension of the row under a fixed random rotation (SimHash, 48
  bytes for 384 dims). The Hamming distance between two codes estimates the angle between the
  vectors (each bit differs with probability angle / pi); it costs an XOR + popcount per word;
* the row quantised to int8 with one float32 scale, chosen so the dequantised row has unit
  norm: that cancels the first-order error for close pairs, so scores at cosine >= 0.85 are
  within ~7e-4 of float32 (measured on MiniLM vectors), about as good as bfloat16 at half size.

A search ranks every live row of the partition by Hamming distance (stage 1, in the C kernels
of `cache.hamming` when built, else numpy), then rescores from the int8 rows the best
`_CANDIDATES` and any other row close enough that it might score >= `_SURE_COSINE` (stage 2). A
partition with at most `_EXACT_UP_TO` live rows is rescored whole, i.e. exactly. A caller that
only acts on scores above a floor (the cache's threshold) has just the ``k`` nearest and the
rows that might reach the floor rescored. Above `_PREFILTER_ABOVE` slots, stage 1 first keeps
the nearest rows by one code word (`SemanticIndex._prefiltered`).

Each entry belongs to a partition (any hashable, e.g. ``(tenant, tier, embedder)``), encoded as
a small int; a search only returns live entries of its partition. When full, expired entries
are evicted first, else one chosen by CLOCK (second chance): `touch` sets a used bit, and the
clock hand evicts the first entry whose bit is clear, clearing bits as it passes.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Hashable
from typing import NamedTuple

import numpy as np
import numpy.typing as npt

from cache.hamming import HammingPasses, hamming_passes
from cache.sign_codes import F32, guard_distance, rotation, sample_cutoff, unit_vector

_FREE = 0  # partition code of an unused slot; real partitions count from 1
_CANDIDATES = 512  # stage-2 rescoring is ~0.1 ms for these; recall is measured in the bench
# Up to this many live rows, skip stage 1 and rescore them all. Rescoring costs ~0.5 us a row
# (2,048 rows took ~1 ms on a miss), while stage 1 is ~0.02 us a row: so only small partitions.
_EXACT_UP_TO = _CANDIDATES
_MAX_RESCORE = 4096  # the most rows stage 2 rescores (~0.5 ms), however dense the neighbourhood
_SURE_COSINE = 0.85  # rows at least this close are shortlisted all but surely (see _guard)
# With a floor, a partition this small is rescored whole: past it, stage 1 plus the few
# rows it shortlists cost less than rescoring every row.
_EXACT_WITH_FLOOR = 64
# Above this many slots, stage 1 first narrows the rows down with one code word.
_PREFILTER_ABOVE = 1 << 18
_PREFILTER_KEEP = 1 << 12
# A partition holding at most 1 slot in this many is found by its rows first (a cheap pass over
# the partition codes), then ranked by full codes like a small index.
_SPARSE_SHARE = 64
# Sign codes of recent vectors: a miss's store finds its search's code even with the searches
# of ~32 other requests in flight between them.
_CODES_KEPT = 128
_HAND_STRIDE = 4096  # CLOCK inspects this many used bits per numpy step


class _Plan(NamedTuple):
    """Stage 1 keeps the ``want`` nearest rows and those within ``guard`` bits (all of them up
    to ``exact_up_to`` live rows)."""

    want: int
    exact_up_to: int
    guard: int


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
        native: bool = True,
    ) -> None:
        if dim < 1 or max_entries < 1:
            raise ValueError("dim and max_entries must be at least 1")
        self.dim = dim
        self.max_entries = max_entries
        self._clock = clock
        self._prefilter_above, self._prefilter_keep = prefilter_above, prefilter_keep
        self._words = -(-dim // 64)
        self._rotation = rotation(dim, 64 * self._words)
        self._guard = guard_distance(64 * self._words, _SURE_COSINE)
        # Reserved whole: np.zeros maps untouched pages lazily, so RSS follows the rows written
        # and nothing is ever copied to grow. Codes are stored word-major so that stage 1 runs
        # one contiguous pass per 64-bit word.
        self._codes = np.zeros((self._words, max_entries), dtype=np.uint64)
        # An index that may prefilter also keeps them row-major (+48 bytes a row): ranking the
        # few thousand rows kept then reads one cache line a row, not one per word (~0.15 ms).
        prefilters = max_entries > prefilter_above
        self._row_codes = np.zeros((max_entries if prefilters else 0, self._words), np.uint64)
        self._rows = np.zeros((max_entries, dim), dtype=np.int8)
        self._scale = np.zeros(max_entries, dtype=np.float32)
        self._part = np.zeros(max_entries, dtype=np.int32)
        self._expires = np.zeros(max_entries, dtype=np.float64)
        self._used = np.zeros(max_entries, dtype=np.bool_)  # CLOCK's second-chance bits
        # Stage 1 (``native``: in C when built). Its distances, reused by every search.
        scratch = min(max_entries, max(prefilter_above, 1 << 16))
        self._passes: HammingPasses = hamming_passes(max_entries, scratch, native=native)
        self._dist = np.zeros(scratch, dtype=np.uint16)
        self._counts: dict[int, int] = {}  # partition code -> slots holding it, expired included
        # The last vector coded and its code: a miss searches, then adds, the same vector.
        self._coded: dict[bytes, npt.NDArray[np.uint64]] = {}
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
            self._codes, self._row_codes, self._rows, self._scale, self._part, self._expires,
            self._used, self._dist, self._rotation,
        )  # fmt: skip
        return sum(int(a.nbytes) for a in arrays) + self._passes.nbytes

    def add(
        self,
        entry_id: str,
        vector: npt.ArrayLike,
        partition: Hashable,
        expires_at: float = math.inf,
    ) -> list[str]:
        """Insert or replace ``entry_id``; return the ids evicted to make room (usually none)."""
        unit = unit_vector(vector, self.dim)
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
            self._counts[int(self._part[slot])] -= 1
        self._counts[code] = self._counts.get(code, 0) + 1
        sign = self._sign_of(unit)
        self._codes[:, slot] = sign
        if self._row_codes.shape[0]:
            self._row_codes[slot] = sign
        # Rounded in place: the float32 copy holds the int8 values exactly, so its norm is theirs.
        scaled = unit * np.float32(127.0 / float(np.max(np.abs(unit))))
        np.rint(scaled, out=scaled)
        self._rows[slot] = scaled
        self._scale[slot] = 1.0 / float(np.sqrt(np.dot(scaled, scaled)))
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
        floor: float | None = None,
    ) -> list[tuple[str, float]]:
        """Return up to ``k`` ``(id, cosine)`` pairs, best first, among live entries of
        ``partition``; with ``min_score``, only those scoring at least that. Empty on a miss.

        Approximate only in which rows get rescored: see `_CANDIDATES`. ``floor`` is the lowest
        score the caller acts on (``min_score`` implies one): then the rows rescored are the
        ``k`` nearest in Hamming distance plus those close enough that they might score the
        floor (see `cache.sign_codes.guard_distance`), far fewer than `_CANDIDATES` unless
        the neighbourhood is crowded; results below the floor are then only the best of those
        few.
        """
        code = self._partitions.get(partition)
        high = len(self._ids)
        if code is None or high == 0 or k < 1:
            return []
        query = unit_vector(vector, self.dim)
        if min_score is not None:
            floor = min_score if floor is None else max(floor, min_score)
        if floor is None:
            plan = _Plan(max(_CANDIDATES, k), _EXACT_UP_TO, self._guard)
        else:
            guard = guard_distance(64 * self._words, min(max(floor, -1.0), 1.0))
            plan = _Plan(k, _EXACT_WITH_FLOOR, guard)
        cand = self._shortlist(query, code, high, plan)
        if cand.size == 0:
            return []
        rows = np.take(self._rows, cand, axis=0).astype(np.float32)
        scores = (rows @ query) * np.take(self._scale, cand)
        if min_score is not None:
            keep = scores >= min_score
            cand, scores = cand[keep], scores[keep]
        if cand.size > k:
            top = np.argpartition(-scores, k - 1)[:k]
            cand, scores = cand[top], scores[top]
        order = np.argsort(-scores, kind="stable")
        return [(str(self._ids[cand[i]]), float(scores[i])) for i in order]

    def _shortlist(self, query: F32, code: int, high: int, plan: _Plan) -> npt.NDArray[np.intp]:
        """Stage 1: slots of the ``plan.want`` live rows of partition ``code`` nearest in
        Hamming distance to ``query``, widened to those within ``plan.guard``; all of them when
        there are few (then the search is exact)."""
        if high > self._prefilter_above:
            return self._prefiltered(self._sign_of(query), code, high, plan)
        now = self._clock()
        dead: npt.NDArray[np.bool_] | None = None
        if not (self._counts.get(code) == high and now < self._earliest_expiry):
            dead = self._part[:high] != code
            dead |= self._expires[:high] <= now
        live = high if dead is None else high - int(np.count_nonzero(dead))
        if live <= max(plan.want, plan.exact_up_to):
            return np.arange(high) if dead is None else np.flatnonzero(~dead)
        sign = self._sign_of(query)
        dist = self._dist[:high]
        self._passes.distances(self._codes, high, sign, dist)
        if dead is not None:
            np.copyto(dist, 64 * self._words + 1, where=dead)
        return self._nearest(dist, plan)

    def _prefiltered(
        self, sign: npt.NDArray[np.uint64], code: int, high: int, plan: _Plan
    ) -> npt.NDArray[np.intp]:
        """Stage 1 for large indexes. A partition holding few of the slots is found first and
        ranked by full codes, as a small index would be. Otherwise the first 64-bit word alone
        keeps about ``prefilter_keep`` of the partition's nearest rows (one pass), whose full
        codes then rank them. A row at cosine 0.85 differs in ~11 of 64 bits (sd 3): it is kept
        unless the cut-off falls several bits lower (see `cache.sign_codes.sample_cutoff`)."""
        now = self._clock()
        count = self._counts.get(code, 0)
        if count * _SPARSE_SHARE <= high:
            slots = np.flatnonzero(self._part[:high] == code)
            if now >= self._earliest_expiry:
                slots = slots[self._expires[slots] > now]
            return self._ranked(sign, slots, plan)
        first, part = self._codes[0, :high], self._part[:high]
        cutoff = sample_cutoff(
            first, None if count == high else part, sign[0], code, count, self._prefilter_keep
        )
        slots = self._passes.near_first_word(
            first, sign[0], cutoff, None if count == high else part, code
        )
        if now >= self._earliest_expiry:
            slots = slots[np.take(self._expires, slots) > now]
        return self._ranked(sign, slots, plan)

    def _ranked(
        self, sign: npt.NDArray[np.uint64], slots: npt.NDArray[np.intp], plan: _Plan
    ) -> npt.NDArray[np.intp]:
        """The shortlist among live ``slots`` of the partition, by full codes."""
        if slots.size <= max(plan.want, plan.exact_up_to):
            return slots
        # Only indexes that prefilter come here, and those keep their codes row-major too.
        dist = self._passes.row_distances(self._row_codes, slots, sign)
        return slots[self._nearest(dist, plan)]

    def _nearest(self, dist: npt.NDArray[np.uint16], plan: _Plan) -> npt.NDArray[np.intp]:
        """Positions in ``dist`` of the shortlist (see `_shortlist`); dead rows are at
        ``64 * words + 1``."""
        # Single-kth np.partition calls: a quarter of np.bincount's cost, a tenth of one
        # multi-kth call. The guard keeps a crowd at ~0.8 from pushing out the one at 0.86.
        want, over, head = plan.want, _MAX_RESCORE, dist  # over: the first row unaffordable
        affordable = 64 * self._words
        if dist.size > over:
            head = np.partition(dist, over)
            affordable = int(head[over]) - 1
            head = head[:over] if want <= over else head
        cutoff = max(int(np.partition(head, want - 1)[want - 1]), min(plan.guard, affordable))
        cand = np.flatnonzero(dist <= cutoff)
        if cand.size > max(want, _MAX_RESCORE):  # many ties at the cut-off: keep any of them
            cand = np.sort(cand[np.argpartition(dist[cand], want - 1)[:want]])
        return cand

    def _sign_of(self, unit: F32) -> npt.NDArray[np.uint64]:
        """The sign code; a recent vector's again (a miss's search, then its add, with other
        requests' searches in between when many are in flight)."""
        key = unit.tobytes()
        sign = self._coded.get(key)
        if sign is not None:
            return sign
        sign = np.packbits((unit @ self._rotation) > 0, bitorder="little").view(np.uint64)
        self._coded[key] = sign
        if len(self._coded) > _CODES_KEPT:
            del self._coded[next(iter(self._coded))]  # the oldest
        return sign

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
        self._counts[int(self._part[slot])] -= 1
        self._part[slot] = _FREE
        self._free.append(slot)
        return entry_id
