"""`RedisVerdicts`: verified-hit verdicts shared by every replica through Redis.

Without it each replica judges the same wrong entry again (a judge call each) and learns the
pooled served-from score on its own. Here every verdict is written to Redis and a local
`VerdictLog` decides on what all replicas learned:

* per entry, a list of its newest verdicts (``PER_ENTRY``), read before each decision on it
  (decisions are only asked for in the gray zone, where the alternative is a judge call);
* pooled, one hash of counts per score bin (``r<bin>`` / ``w<bin>``) per embedder, re-read at
  most every ``refresh_s`` in the same round trip as an entry's list.

Keys are listed in `cache.keys` (``VERDICT_PREFIX``). Every command is bounded by
``op_timeout_s``. When Redis fails, the local log decides on what it already holds (its own
verdicts and what it last read): at worst the judge is asked more, never is an answer served
that this replica's evidence would not serve. A verdict that cannot be written is kept locally;
a wrong one also keeps weighing on the pooled counts read later, since a wrong answer costs
more than a judge call.
"""

from __future__ import annotations

import hashlib
import logging
import math
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import redis.asyncio as redis

from cache.errors import StoreUnavailable
from cache.keys import DEFAULT_NAMESPACE, VERDICT_PREFIX, VERDICT_TTL_S
from cache.outage_log import OutageLog, ReportsOutages
from cache.redis_store import redis_op
from cache.verified_hits import BINS, PER_ENTRY, Decision, VerdictLog, score_bin

_log = logging.getLogger(__name__)

_TTL_MS = int(VERDICT_TTL_S * 1000)


class RedisVerdicts(ReportsOutages):
    """A `cache.verified_hits.Verdicts` shared through Redis, deciding with ``log``.

    ``embedder_name`` separates the verdicts of two embedders (their cosines mean different
    things). ``clock`` (monotonic seconds) paces the pooled refresh and the warnings.
    ``errors_total`` counts failed Redis operations (``errors_by_op``: by ``read`` and
    ``write``, for ``/metrics``). No method raises on a Redis failure.
    """

    def __init__(
        self,
        client: redis.Redis,
        log: VerdictLog,
        *,
        embedder_name: str,
        namespace: str = DEFAULT_NAMESPACE,
        op_timeout_s: float = 0.25,
        refresh_s: float = 1.0,
        log_interval_s: float = 30.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if op_timeout_s <= 0 or refresh_s < 0:
            raise ValueError("op_timeout_s must be positive and refresh_s not negative")
        digest = hashlib.blake2b(embedder_name.encode(), digest_size=12).hexdigest()
        self.log = log
        self._client = client
        self._prefix = f"{namespace}{VERDICT_PREFIX}{digest}:"
        self.bins_key = self._prefix + "bins"
        self._timeout = op_timeout_s
        self._refresh_s = refresh_s
        self._clock = clock
        self._read_bins_at: float | None = None
        self._outage = OutageLog(
            _log,
            "shared verdicts unavailable, deciding on this replica's own",
            interval_s=log_interval_s,
            clock=clock,
        )
        # Wrong verdicts whose write failed, by bin: added to every pooled count read later.
        self._unshared_wrong = [0] * BINS

    def entry_key(self, entry_id: str) -> str:
        """The Redis list holding ``entry_id``'s verdicts."""
        return f"{self._prefix}e:{entry_id}"

    async def decide(self, entry_id: str, score: float) -> Decision:
        """Read what every replica learned of ``entry_id`` (and the pooled counts when due),
        then let the local log decide; on a Redis failure, the local log alone decides."""
        if self.log.known_wrong(entry_id, score):
            return "refuse"  # nothing read from Redis could make it right
        now = self._clock()
        due = self._read_bins_at is None or now - self._read_bins_at >= self._refresh_s
        try:
            with redis_op("read", self._timeout):
                async with self._client.pipeline(transaction=False) as pipe:
                    pipe.lrange(self.entry_key(entry_id), 0, -1)
                    if due:
                        pipe.hgetall(self.bins_key)
                    replies = await pipe.execute()
        except StoreUnavailable as exc:
            if due:
                self._read_bins_at = now  # retried after refresh_s, not on every lookup
            self._outage.failed(exc)
            return self.log.decide(entry_id, score)
        self.log.adopt(entry_id, _verdicts(replies[0]))
        if due:
            self._read_bins_at = now
            right, wrong = _counts(replies[1])
            self.log.adopt_bins(
                right, [w + u for w, u in zip(wrong, self._unshared_wrong, strict=True)]
            )
        return self.log.decide(entry_id, score)

    async def record(self, entry_id: str, score: float, ok: bool) -> None:
        """Keep the verdict locally, then append it to the entry's list and count it in the
        pooled hash (one round trip); a failed write is logged, not raised."""
        self.log.record(entry_id, score, ok)
        key = self.entry_key(entry_id)
        b = score_bin(score)
        try:
            with redis_op("write", self._timeout):
                async with self._client.pipeline(transaction=False) as pipe:
                    pipe.rpush(key, _encode(score, ok))
                    pipe.ltrim(key, -PER_ENTRY, -1)
                    pipe.pexpire(key, _TTL_MS)
                    pipe.hincrby(self.bins_key, f"{'r' if ok else 'w'}{b}", 1)
                    pipe.pexpire(self.bins_key, _TTL_MS)
                    await pipe.execute()
        except StoreUnavailable as exc:
            if not ok:
                self._unshared_wrong[b] += 1
            self._outage.failed(exc)


def _encode(score: float, ok: bool) -> bytes:
    # repr round-trips a float exactly: a question's cosine is recognised on every replica.
    return f"{int(ok)}:{score!r}".encode()


def _verdicts(raw: Iterable[Any]) -> list[tuple[float, bool]]:
    out = []
    for item in raw:
        ok, _, text = _bytes(item).partition(b":")
        try:
            score = float(text)
        except ValueError:
            continue  # not ours: ignored rather than trusted
        if ok in (b"0", b"1") and math.isfinite(score):
            out.append((score, ok == b"1"))
    return out


def _counts(raw: Mapping[Any, Any]) -> tuple[list[int], list[int]]:
    right, wrong = [0] * BINS, [0] * BINS
    for field, value in raw.items():
        name = _bytes(field).decode(errors="replace")
        try:
            b, count = int(name[1:]), int(value)
        except ValueError:
            continue
        if 0 <= b < BINS and count > 0 and name[:1] in ("r", "w"):
            (right if name[0] == "r" else wrong)[b] = count
    return right, wrong


def _bytes(value: Any) -> bytes:
    # The client is built without decode_responses; a str is accepted all the same.
    return value.encode() if isinstance(value, str) else bytes(value)
