"""`MemoryTTLStore`: the in-process `TTLStore`, used when no Redis is configured and in tests.

An ``OrderedDict`` kept in least-recently-used order gives O(1) get/set/delete and LRU
eviction. Expiry is lazy (checked on access) plus a small, bounded sweep of the oldest entries on
every write, so no background task is needed and expired entries cannot pile up at the cold end.
All methods are free of ``await`` points, so each one is atomic on the event loop.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from itertools import islice

# How many of the least recently used entries each write inspects for expiry.
_SWEEP_PER_WRITE = 4


@dataclass(slots=True)
class _Entry:
    value: bytes
    expires_at: float | None
    tags: tuple[str, ...]


class MemoryTTLStore:
    """A bounded, in-memory `cache.base.TTLStore` with LRU eviction.

    ``clock`` returns seconds (monotonic); tests inject a fake one to move time.
    Never raises `cache.errors.StoreUnavailable`.
    """

    def __init__(
        self, max_entries: int = 100_000, clock: Callable[[], float] = time.monotonic
    ) -> None:
        if max_entries < 1:
            raise ValueError("max_entries must be at least 1")
        self._max_entries = max_entries
        self._clock = clock
        self._entries: OrderedDict[str, _Entry] = OrderedDict()
        self._tags: dict[str, set[str]] = {}

    def __len__(self) -> int:
        """Entries currently held, including expired ones not yet swept."""
        return len(self._entries)

    async def get(self, key: str) -> bytes | None:
        """Return the value, or ``None`` when missing or expired."""
        entry = self._live(key)
        if entry is None:
            return None
        self._entries.move_to_end(key)
        return entry.value

    async def set(
        self, key: str, value: bytes, ttl: float | None, *, tags: Sequence[str] = ()
    ) -> None:
        """Store ``value`` for ``ttl`` seconds (``None``: no expiry); ``ttl`` must be positive."""
        expires_at = self._expiry(ttl)
        self._put(key, _Entry(value, expires_at, tuple(dict.fromkeys(tags))))

    async def delete(self, key: str) -> bool:
        """Delete one key; return whether it existed (expired keys did not)."""
        return self._delete_live(key)

    async def delete_many(self, keys: Sequence[str]) -> int:
        """Delete the keys; return how many existed."""
        return sum(self._delete_live(key) for key in dict.fromkeys(keys))

    async def delete_tag(self, tag: str) -> int:
        """Delete every live key stored with ``tag``; return how many were deleted."""
        return sum(self._delete_live(key) for key in tuple(self._tags.get(tag, ())))

    async def incr_by(self, key: str, amount: int, ttl: float | None) -> int:
        """Add ``amount`` to the counter (created at 0 with ``ttl``); return the new value.

        Raises ``ValueError`` when the key holds something that is not an integer.
        """
        entry = self._live(key)
        if entry is None:
            value = amount
            self._put(key, _Entry(str(value).encode(), self._expiry(ttl), ()))
            return value
        value = int(entry.value) + amount
        entry.value = str(value).encode()
        self._entries.move_to_end(key)
        return value

    def _expiry(self, ttl: float | None) -> float | None:
        if ttl is None:
            return None
        if ttl <= 0:
            raise ValueError(f"ttl must be positive or None, got {ttl!r}")
        return self._clock() + ttl

    def _delete_live(self, key: str) -> bool:
        return self._live(key) is not None and self._remove(key)

    def _live(self, key: str) -> _Entry | None:
        entry = self._entries.get(key)
        if entry is None:
            return None
        if entry.expires_at is not None and entry.expires_at <= self._clock():
            self._remove(key)
            return None
        return entry

    def _put(self, key: str, entry: _Entry) -> None:
        if key in self._entries:
            self._remove(key)
        self._sweep_expired()
        while len(self._entries) >= self._max_entries:
            self._remove(next(iter(self._entries)))
        self._entries[key] = entry
        for tag in entry.tags:
            self._tags.setdefault(tag, set()).add(key)

    def _remove(self, key: str) -> bool:
        entry = self._entries.pop(key)
        for tag in entry.tags:
            members = self._tags.get(tag)
            if members is not None:
                members.discard(key)
                if not members:
                    del self._tags[tag]
        return True

    def _sweep_expired(self) -> None:
        now = self._clock()
        stale = [
            key
            for key, entry in islice(self._entries.items(), _SWEEP_PER_WRITE)
            if entry.expires_at is not None and entry.expires_at <= now
        ]
        for key in stale:
            self._remove(key)
