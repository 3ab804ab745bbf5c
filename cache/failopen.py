"""`FailOpenStore`: turns store outages into cache misses so requests are served uncached.

It keeps no "broken" state: every call goes to the inner store, so caching resumes by itself as
soon as the backend answers again (redis-py reconnects on the next command).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence

from cache.base import TTLStore
from cache.errors import StoreUnavailable
from cache.outage_log import OutageLog, ReportsOutages

_log = logging.getLogger(__name__)


class FailOpenStore(ReportsOutages):
    """A `cache.base.TTLStore` that answers a miss when the inner store is unavailable.

    On `StoreUnavailable`: ``get`` returns ``None``, ``set`` does nothing, deletes return 0 /
    ``False``. ``incr_by`` re-raises, because budgets and rate limits must pick their own local
    policy rather than silently read a zero. Every failure is counted in ``errors_total``; a
    warning is logged at most once per ``log_interval_s``, and recovery is logged once.
    """

    def __init__(
        self,
        inner: TTLStore,
        *,
        log_interval_s: float = 30.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.inner = inner
        self._outage = OutageLog(
            _log,
            "cache store unavailable, serving uncached",
            "cache store available again",
            interval_s=log_interval_s,
            clock=clock,
        )

    async def get(self, key: str) -> bytes | None:
        """Return the value, or ``None`` when missing, expired or the store is unavailable."""
        try:
            value = await self.inner.get(key)
        except StoreUnavailable as exc:
            self._outage.failed(exc)
            return None
        self._outage.succeeded()
        return value

    async def set(
        self, key: str, value: bytes, ttl: float | None, *, tags: Sequence[str] = ()
    ) -> None:
        """Store ``value``; silently skipped when the store is unavailable."""
        try:
            await self.inner.set(key, value, ttl, tags=tags)
        except StoreUnavailable as exc:
            self._outage.failed(exc)
            return
        self._outage.succeeded()

    async def delete(self, key: str) -> bool:
        """Delete one key; ``False`` when it did not exist or the store is unavailable."""
        try:
            existed = await self.inner.delete(key)
        except StoreUnavailable as exc:
            self._outage.failed(exc)
            return False
        self._outage.succeeded()
        return existed

    async def delete_many(self, keys: Sequence[str]) -> int:
        """Delete the keys; return how many existed (0 when the store is unavailable)."""
        try:
            deleted = await self.inner.delete_many(keys)
        except StoreUnavailable as exc:
            self._outage.failed(exc)
            return 0
        self._outage.succeeded()
        return deleted

    async def delete_tag(self, tag: str) -> int:
        """Delete every key with ``tag``; return how many (0 when the store is unavailable)."""
        try:
            deleted = await self.inner.delete_tag(tag)
        except StoreUnavailable as exc:
            self._outage.failed(exc)
            return 0
        self._outage.succeeded()
        return deleted

    async def incr_by(self, key: str, amount: int, ttl: float | None) -> int:
        """Add to a counter; raises `StoreUnavailable` (counted) when the store is unavailable."""
        try:
            value = await self.inner.incr_by(key, amount, ttl)
        except StoreUnavailable as exc:
            self._outage.failed(exc)
            raise
        self._outage.succeeded()
        return value
