"""A/B tests of configured agents: sticky assignment, per-variant counters and feedback.

A conversation draws a variant once: the draw is a hash of the agent and the session id, so
every turn of a session (on any replica) gets the same one; requests without a session draw
at random. Counters (requests, cost, latency, cache hits, fallbacks, feedback) live in the
`TTLStore`, so with Redis every replica adds to the same numbers.
"""

from __future__ import annotations

import hashlib
import logging
import secrets
from collections.abc import Sequence

import msgspec

from cache.base import TTLStore
from cache.errors import CacheError
from cache.keys import AB_PREFIX, AB_REQUEST_TTL_S

_log = logging.getLogger(__name__)
FIELDS = (
    "requests",
    "cost_usd_micros",
    "latency_ms",
    "cache_hits",
    "fallbacks",
    "feedback",
    "feedback_sum",
)


class VariantStats(msgspec.Struct, frozen=True):
    """One variant's numbers; ``mean_score`` is the mean feedback score (None: none yet)."""

    agent: str
    variant: str
    requests: int
    cost_usd_micros: int
    mean_latency_ms: float | None
    cache_hits: int
    fallbacks: int
    feedback: int
    mean_score: float | None


def draw(agent: str, session_id: str | None, weights: Sequence[tuple[str, float]]) -> str:
    """The variant ``session_id`` gets (weighted, sticky per session; random without one)."""
    seed = session_id.encode() if session_id else secrets.token_bytes(8)
    point = int.from_bytes(hashlib.sha256(agent.encode() + b"\x1f" + seed).digest()[:8], "big")
    total = sum(weight for _, weight in weights)
    target = point / 2**64 * total
    for name, weight in weights:
        if target < weight:
            return name
        target -= weight
    return weights[-1][0]


class Experiments:
    """Counters per (agent, variant) in ``store``; ``arms`` lists every defined pair."""

    def __init__(self, store: TTLStore, arms: Sequence[tuple[str, str]]) -> None:
        self._store = store
        self.arms = list(arms)

    async def record(
        self,
        request_id: str,
        agent: str,
        variant: str,
        *,
        cost_usd_micros: int,
        latency_ms: float,
        cache_hit: bool,
        fallback: bool,
    ) -> None:
        """Count one answer and remember which variant gave it (for feedback)."""
        if not variant:
            return
        values = {
            "requests": 1,
            "cost_usd_micros": cost_usd_micros,
            "latency_ms": round(latency_ms),
            "cache_hits": int(cache_hit),
            "fallbacks": int(fallback),
        }
        try:
            for field, amount in values.items():
                await self._store.incr_by(self._key(agent, variant, field), amount, None)
            await self._store.set(
                f"{AB_PREFIX}req:{request_id}", f"{agent}\x1f{variant}".encode(), AB_REQUEST_TTL_S
            )
        except CacheError as exc:
            _log.warning("A/B counters not updated: %s", exc)

    async def feedback(self, request_id: str, score: int) -> tuple[str, str] | None:
        """Add ``score`` to the variant that answered ``request_id`` (once per request);
        None when the request is unknown, expired or already scored."""
        key = f"{AB_PREFIX}req:{request_id}"
        raw = await self._store.get(key)
        if raw is None or not await self._store.delete(key):
            return None
        agent, variant = raw.decode().split("\x1f", 1)
        await self._store.incr_by(self._key(agent, variant, "feedback"), 1, None)
        await self._store.incr_by(self._key(agent, variant, "feedback_sum"), score, None)
        return agent, variant

    async def summary(self) -> list[VariantStats]:
        """Every defined variant's numbers (zeros before its first answer)."""
        out = []
        for agent, variant in self.arms:
            v = {}
            for field in FIELDS:
                raw = await self._store.get(self._key(agent, variant, field))
                v[field] = int(raw) if raw is not None else 0
            n, scored = v["requests"], v["feedback"]
            out.append(
                VariantStats(
                    agent,
                    variant,
                    n,
                    v["cost_usd_micros"],
                    round(v["latency_ms"] / n, 1) if n else None,
                    v["cache_hits"],
                    v["fallbacks"],
                    scored,
                    round(v["feedback_sum"] / scored, 3) if scored else None,
                )
            )
        return out

    @staticmethod
    def _key(agent: str, variant: str, field: str) -> str:
        return f"{AB_PREFIX}{agent}:{variant}:{field}"
