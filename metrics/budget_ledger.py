"""`BudgetLedger`: where budget windows keep their counters, and the in-process ledger.

Each window holds two integer micro-USD counters: ``spent`` (settled money) and ``reserved``
(holds of requests still in flight). A reservation is granted only when ``spent + reserved +
amount`` stays within the cap of every window it touches, and then added to all of them in one
atomic step. `metrics.budget_redis.RedisBudgetLedger` does the same across replicas.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, runtime_checkable

import anyio

from metrics.budget_windows import Window

# Forget expired windows at most this often (seconds of the caller's clock).
_SWEEP_INTERVAL_S = 60.0


@runtime_checkable
class BudgetLedger(Protocol):
    """Atomic spend counters per `Window`. ``now`` is the caller's clock (epoch seconds).

    Every method raises `cache.errors.StoreUnavailable` when its backing store cannot answer.
    """

    async def reserve(self, windows: Sequence[Window], amount: int, now: float) -> list[int]:
        """Add ``amount`` to every window's ``reserved`` if all stay within their caps.

        Returns the indexes of the windows that would overflow (empty: granted and added);
        on refusal nothing is changed.
        """
        ...

    async def settle(
        self, windows: Sequence[Window], reserved: int, actual: int, now: float
    ) -> list[int | None]:
        """Move a hold: ``reserved -= reserved``, ``spent += actual`` in every window.

        Returns each window's new ``spent``, or ``None`` for a window already forgotten
        (expired), which is left alone.
        """
        ...

    async def read(self, windows: Sequence[Window], now: float) -> list[tuple[int, int]]:
        """Each window's ``(spent, reserved)``; ``(0, 0)`` for windows never used."""
        ...

    async def claim_alert(self, window: Window, percent: int, now: float) -> bool:
        """Mark the ``percent`` alert of ``window`` as sent; ``True`` only for the first claim."""
        ...


class _Counters:
    __slots__ = ("expires_at", "reserved", "spent")

    def __init__(self, expires_at: float) -> None:
        self.spent = 0
        self.reserved = 0
        self.expires_at = expires_at


class MemoryBudgetLedger:
    """A `BudgetLedger` in this process: one replica's budgets, guarded by an anyio lock."""

    def __init__(self) -> None:
        self._lock = anyio.Lock()
        self._counters: dict[str, _Counters] = {}
        self._alerts: dict[str, float] = {}
        self._next_sweep = float("-inf")

    async def reserve(self, windows: Sequence[Window], amount: int, now: float) -> list[int]:
        """See `BudgetLedger.reserve`."""
        async with self._lock:
            self._sweep(now)
            blocked = [
                index
                for index, window in enumerate(windows)
                if self._used(window.key, now) + amount > window.cap_usd_micros
            ]
            if blocked:
                return blocked
            for window in windows:
                counters = self._live(window.key, now)
                if counters is None:
                    counters = self._counters[window.key] = _Counters(window.expires_at)
                counters.reserved += amount
                counters.expires_at = max(counters.expires_at, window.expires_at)
            return []

    async def settle(
        self, windows: Sequence[Window], reserved: int, actual: int, now: float
    ) -> list[int | None]:
        """See `BudgetLedger.settle`."""
        async with self._lock:
            spent: list[int | None] = []
            for window in windows:
                counters = self._live(window.key, now)
                if counters is None:
                    spent.append(None)
                    continue
                counters.reserved -= reserved
                counters.spent += actual
                spent.append(counters.spent)
            return spent

    async def read(self, windows: Sequence[Window], now: float) -> list[tuple[int, int]]:
        """See `BudgetLedger.read`."""
        async with self._lock:
            found = [self._live(window.key, now) for window in windows]
            return [(0, 0) if c is None else (c.spent, c.reserved) for c in found]

    async def claim_alert(self, window: Window, percent: int, now: float) -> bool:
        """See `BudgetLedger.claim_alert`."""
        key = f"{percent}:{window.key}"
        async with self._lock:
            expires_at = self._alerts.get(key)
            if expires_at is not None and expires_at > now:
                return False
            self._alerts[key] = window.expires_at
            return True

    def _live(self, key: str, now: float) -> _Counters | None:
        counters = self._counters.get(key)
        if counters is not None and counters.expires_at <= now:
            del self._counters[key]
            return None
        return counters

    def _used(self, key: str, now: float) -> int:
        counters = self._live(key, now)
        return 0 if counters is None else counters.spent + counters.reserved

    def _sweep(self, now: float) -> None:
        # Tenants come and go; without this their finished windows would pile up.
        if now < self._next_sweep:
            return
        self._next_sweep = now + _SWEEP_INTERVAL_S
        for key in [k for k, c in self._counters.items() if c.expires_at <= now]:
            del self._counters[key]
        for key in [k for k, at in self._alerts.items() if at <= now]:
            del self._alerts[key]
