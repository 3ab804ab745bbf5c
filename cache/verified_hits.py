"""`VerdictLog`: when a semantic candidate may be served without asking a verifier.

In the spirit of vCache ("verified semantic prompt caching"): the operator sets an error bound
δ (``max_error_rate``) instead of trusting one global threshold. Candidates that pass the
guards at cosine >= ``floor`` are in the gray zone; a verifier (a small model asked "does this
cached answer answer that question?") decides them, and every verdict is kept twice:

* **per entry**: an entry judged wrong at score s refuses every later query scoring <= s at once
  (its own threshold is above s); an entry judged right at least `Wilson`-enough times at scores
  <= s is served at s without asking (a popular answer learns its own, lower, threshold); a
  question already judged right for an entry (the same cosine) is served again without asking;
* **pooled by score**: verdicts of all entries in bins of 0.01; the served-from score is the
  lowest t whose verdicts at t and above bound the error rate at <= δ (one-sided 95 % Wilson
  upper bound), and every score >= t is served without asking (a hit's chance of being wrong
  does not grow with its cosine, so the rate above t bounds it at any higher score). That is
  the global threshold learned from the verifier, and the statistic bounding the false-hit
  rate of served hits.

Everything else is asked, and a small share (``explore_rate``) of what the pooled evidence
would serve is asked anyway, so the estimate keeps learning if traffic drifts.

`SemanticCache` reaches the log through the `Verdicts` seam: `MemoryVerdicts` keeps it in this
process; `cache.verdicts_redis.RedisVerdicts` shares every verdict with the other replicas and
lets a local log, fed what they learned (`adopt`, `adopt_bins`), decide.
"""

from __future__ import annotations

import math
import random
from collections import OrderedDict
from collections.abc import Sequence
from typing import Literal, Protocol

from cache.semantic_backend import SemanticEntry

Decision = Literal["serve", "refuse", "ask"]

_Z = 1.645  # one-sided 95 %
BINS = 100  # score bins of 0.01 over [0, 1]
PER_ENTRY = 128  # verdicts kept per entry (the most recent): enough to prove 1 %
_SAME_SCORE = 1e-6  # a question's cosine to an entry is deterministic: equal means the same


class Verifier(Protocol):
    """Decides whether a cached answer answers a new question (e.g. a small model as judge)."""

    async def verify(self, question: str, entry: SemanticEntry, *, tenant: str) -> bool:
        """True when ``entry``'s answer is right for ``question``; raises when it cannot tell
        (the lookup is then a miss)."""
        ...


def wilson_upper(failures: int, trials: int) -> float:
    """One-sided 95 % upper bound of a failure rate seen ``failures`` times in ``trials``."""
    if trials <= 0:
        return 1.0
    p = failures / trials
    z2 = _Z * _Z
    centre = p + z2 / (2 * trials)
    spread = _Z * math.sqrt(p * (1 - p) / trials + z2 / (4 * trials * trials))
    return min(1.0, (centre + spread) / (1 + z2 / trials))


class Verdicts(Protocol):
    """Where verifier verdicts are kept and what they allow (`MemoryVerdicts`, or shared by
    every replica: `cache.verdicts_redis.RedisVerdicts`)."""

    async def decide(self, entry_id: str, score: float) -> Decision:
        """``serve`` (no verifier needed), ``refuse`` (known wrong at this score) or ``ask``;
        an entry never judged is ``ask`` unless the pooled evidence serves its score. Never
        raises: a store it cannot read leaves the decision to local evidence."""
        ...

    async def record(self, entry_id: str, score: float, ok: bool) -> None:
        """Keep the verifier's verdict on ``entry_id`` at ``score``. Never raises."""
        ...


class MemoryVerdicts:
    """`Verdicts` kept in this process by one `VerdictLog` (``log``): each replica learns on
    its own."""

    def __init__(self, log: VerdictLog) -> None:
        self.log = log

    async def decide(self, entry_id: str, score: float) -> Decision:
        """The log's decision."""
        return self.log.decide(entry_id, score)

    async def record(self, entry_id: str, score: float, ok: bool) -> None:
        """Keep the verdict in the log."""
        self.log.record(entry_id, score, ok)


def score_bin(score: float) -> int:
    """The pooled bin (0 to ``BINS - 1``) a cosine falls in."""
    return min(BINS - 1, max(0, int(score * BINS)))


class VerdictLog:
    """Verifier verdicts by entry and by score, and the decision they support."""

    def __init__(
        self,
        max_error_rate: float,
        *,
        explore_rate: float = 0.02,
        max_entries: int = 100_000,
        rng: random.Random | None = None,
    ) -> None:
        if not 0.0 < max_error_rate < 1.0:
            raise ValueError("max_error_rate must be in (0, 1)")
        if not 0.0 <= explore_rate <= 1.0:
            raise ValueError("explore_rate must be in [0, 1]")
        self.max_error_rate = max_error_rate
        self.explore_rate = explore_rate
        self._rng = rng or random.Random()
        self._max_entries = max_entries
        self._entries: OrderedDict[str, list[tuple[float, bool]]] = OrderedDict()
        self._right = [0] * BINS
        self._wrong = [0] * BINS
        self._served_from: float | None = None
        self._stale = False
        self.asked = 0

    def decide(self, entry_id: str, score: float) -> Decision:
        """``serve`` (no verifier needed), ``refuse`` (known wrong here) or ``ask``."""
        if self.known_wrong(entry_id, score):
            return "refuse"
        seen = self._entries.get(entry_id, ())
        if any(ok and abs(s - score) < _SAME_SCORE for s, ok in seen):
            return "serve"  # this very question (same cosine to this entry) was judged right
        served_from = self.served_from()
        if served_from is not None and score >= served_from:
            return "ask" if self._rng.random() < self.explore_rate else "serve"
        below = sum(1 for s, ok in seen if ok and s <= score)
        if below and wilson_upper(0, below) <= self.max_error_rate:
            return "serve"
        return "ask"

    def record(self, entry_id: str, score: float, ok: bool) -> None:
        """Keep one verdict on ``entry_id`` at ``score``."""
        self.asked += 1
        (self._right if ok else self._wrong)[score_bin(score)] += 1
        self._stale = True
        seen = self._entries.pop(entry_id, [])
        seen.append((score, ok))
        self._keep(entry_id, seen)

    def known_wrong(self, entry_id: str, score: float) -> bool:
        """Whether ``entry_id`` was judged wrong at ``score`` or closer (so ``refuse``)."""
        return any(not ok and s >= score for s, ok in self._entries.get(entry_id, ()))

    def verdicts_of(self, entry_id: str) -> list[tuple[float, bool]]:
        """The verdicts kept on ``entry_id``, oldest first (``(score, ok)``; empty if none)."""
        return list(self._entries.get(entry_id, ()))

    def adopt(self, entry_id: str, verdicts: Sequence[tuple[float, bool]]) -> None:
        """Take ``verdicts`` (oldest first, e.g. read from a shared store) as what is known of
        ``entry_id``, keeping the wrong verdicts known here that they lack: refusing on them
        is always safe, while right verdicts counted twice would serve on evidence nobody has.
        The pooled bins are left alone (see `adopt_bins`)."""
        shared = list(verdicts)
        known = set(shared)
        local_wrong = [v for v in self._entries.pop(entry_id, ()) if not v[1] and v not in known]
        if shared or local_wrong:
            self._keep(entry_id, shared + local_wrong)

    def bins(self) -> tuple[list[int], list[int]]:
        """The pooled counts: right and wrong verdicts per `score_bin`."""
        return list(self._right), list(self._wrong)

    def adopt_bins(self, right: Sequence[int], wrong: Sequence[int]) -> None:
        """Replace the pooled counts (``BINS`` each, by `score_bin`) with ``right`` and
        ``wrong``, e.g. the totals of every replica."""
        if len(right) != BINS or len(wrong) != BINS:
            raise ValueError(f"expected {BINS} counts per verdict")
        self._right, self._wrong = list(right), list(wrong)
        self._stale = True

    def _keep(self, entry_id: str, seen: list[tuple[float, bool]]) -> None:
        self._entries[entry_id] = seen[-PER_ENTRY:]
        while len(self._entries) > self._max_entries:
            self._entries.popitem(last=False)

    def served_from(self) -> float | None:
        """The lowest score now served without asking (pooled evidence), None if none yet."""
        if self._stale:
            self._stale = False
            self._served_from = None
            wrong = right = 0
            for b in range(BINS - 1, -1, -1):  # suffix sums, from the top bin down
                wrong, right = wrong + self._wrong[b], right + self._right[b]
                judged_here = self._wrong[b] + self._right[b] > 0  # no proof below the evidence
                if judged_here and wilson_upper(wrong, wrong + right) <= self.max_error_rate:
                    self._served_from = b / BINS
        return self._served_from
