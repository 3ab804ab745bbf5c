"""`BudgetLedger`: where budget windows keep their counters, and the in-process ledger.

Each window holds two integer micro-USD counters: ``spent`` (settled money) and ``reserved``
(holds of requests still in flight). A reservation is granted only when ``spent + reserved +
amount`` stays within the cap of every window it touches, and then added to all of them in one
atomic step. `metrics.budget_redis.RedisBudgetLedger` does the same across replicas.

Every hold has an id and an expiry: a hold nobody settles (its replica crashed or stalled)
stops counting at ``expires_at``, and the same id is held at most once and settled at most once.
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

    async def reserve(
        self,
        windows: Sequence[Window],
        amount: int,
        now: float,
        *,
        hold_id: str,
        expires_at: float,
    ) -> list[int]:
        """Hold ``amount`` as ``hold_id`` in every window if all stay within their caps.

        The hold counts in ``reserved`` until it is settled or until ``expires_at``. Returns
        the indexes of the windows that would overflow (empty: granted and added, or
        ``hold_id`` was already granted, in which case nothing is added); on refusal nothing
        is changed.
        """
        ...

    async def settle(
        self, windows: Sequence[Window], hold_id: str, actual: int, now: float
    ) -> list[int | None]:
        """Release hold ``hold_id`` (if still counting) and add ``actual`` to ``spent``.

        Returns each window's new ``spent``, or ``None`` for a window already forgotten
        (expired), which is left alone. A hold already settled is not settled again: every
        window then gives ``None``.
        """
        ...

    async def read(self, windows: Sequence[Window], now: float) -> list[tuple[int, int]]:
        """Each window's ``(spent, reserved)``; ``(0, 0)`` for windows never used."""
        ...

    async def claim_alert(self, window: Window, percent: int, now: float) -> bool:
        """Mark the ``percent`` alert of ``window`` as sent; ``True`` only for the first claim."""
        ...


class _Counters:
    __slots__ = ("expires_at", "holds", "spent")

    def __init__(self, expires_at: float) -> None:
        self.spent = 0
        self.holds: dict[str, tuple[int, float]] = {}  # hold id -> (amount, expires_at)
        self.expires_at = expires_at

    def reserved(self, now: float) -> int:
        # Holds live only for requests in flight, so this stays a short scan.
        for hold_id in [h for h, (_, at) in self.holds.items() if at <= now]:
            del self.holds[hold_id]
        return sum(amount for amount, _ in self.holds.values())


class MemoryBudgetLedger:
    """A `BudgetLedger` in this process: one replica's budgets, guarded by an anyio lock."""

    def __init__(self) -> None:
        self._lock = anyio.Lock()
        self._counters: dict[str, _Counters] = {}
        self._alerts: dict[str, float] = {}
        # Hold ids granted (False) or settled (True), kept as long as their windows.
        self._hold_ids: dict[str, tuple[bool, float]] = {}
        self._next_sweep = float("-inf")

    async def reserve(
        self,
        windows: Sequence[Window],
        amount: int,
        now: float,
        *,
        hold_id: str,
        expires_at: float,
    ) -> list[int]:
        """See `BudgetLedger.reserve`."""
        async with self._lock:
            self._sweep(now)
            if hold_id in self._hold_ids:
                return []
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
                counters.holds[hold_id] = (amount, expires_at)
                counters.expires_at = max(counters.expires_at, window.expires_at)
            forget_at = max(window.expires_at for window in windows)
            self._hold_ids[hold_id] = (False, forget_at)
            return []

    async def settle(
        self, windows: Sequence[Window], hold_id: str, actual: int, now: float
    ) -> list[int | None]:
        """See `BudgetLedger.settle`."""
        async with self._lock:
            state = self._hold_ids.get(hold_id)
            if state is not None and state[0]:
                return [None] * len(windows)
            forget_at = max((window.expires_at for window in windows), default=now)
            self._hold_ids[hold_id] = (True, forget_at)
            spent: list[int | None] = []
            for window in windows:
                counters = self._live(window.key, now)
                if counters is None:
                    spent.append(None)
                    continue
                counters.holds.pop(hold_id, None)
                counters.spent += actual
                spent.append(counters.spent)
            return spent

    async def read(self, windows: Sequence[Window], now: float) -> list[tuple[int, int]]:
        """See `BudgetLedger.read`."""
        async with self._lock:
            found = [self._live(window.key, now) for window in windows]
            return [(0, 0) if c is None else (c.spent, c.reserved(now)) for c in found]

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
        return 0 if counters is None else counters.spent + counters.reserved(now)

    def _sweep(self, now: float) -> None:
        # Tenants come and go; without this their finished windows would pile up.
        if now < self._next_sweep:
            return
        self._next_sweep = now + _SWEEP_INTERVAL_S
        for key in [k for k, c in self._counters.items() if c.expires_at <= now]:
            del self._counters[key]
        for key in [k for k, at in self._alerts.items() if at <= now]:
            del self._alerts[key]
        for key in [k for k, (_, at) in self._hold_ids.items() if at <= now]:
            del self._hold_ids[key]
