"""Budget alerts: sent once per threshold per window, across every replica sharing a ledger.

A threshold is reached when a window's *settled* spend reaches that share of its cap (real
money, not in-flight worst cases). The 100 % alert also fires on the first refusal in a window,
because that is when callers start getting ``budget_exceeded``. Each alert is claimed in the
ledger first (``SET NX`` in Redis), then logged on ``frugal.budget`` with its fields as
``extra`` and handed to the optional callback.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import Literal

import anyio
import msgspec

from metrics.budget_ledger import BudgetLedger
from metrics.budget_windows import Period, Window

log = logging.getLogger("frugal.budget")

DEFAULT_ALERT_PERCENTS: tuple[int, ...] = (50, 80, 100)


class BudgetAlert(msgspec.Struct, frozen=True):
    """One threshold reached in one window; ``trigger`` says whether spend reached it or a
    request was refused. Times are epoch seconds; money is micro-USD."""

    scope: Literal["global", "tenant"]
    tenant: str | None
    period: Period
    threshold_percent: int
    spent_usd_micros: int
    cap_usd_micros: int
    window_start: float
    resets_at: float
    trigger: Literal["spend", "refused"]


AlertCallback = Callable[[BudgetAlert], Awaitable[None]]


class AlertNotifier:
    """Decides which thresholds a new spend reached, claims them, logs and calls back.

    ``callback`` is awaited inline with a ``callback_timeout_s`` bound; its errors are logged
    and never reach the request. Hand slow work (webhooks) to a background sender.
    """

    def __init__(
        self,
        ledger: BudgetLedger,
        *,
        percents: Sequence[int] = DEFAULT_ALERT_PERCENTS,
        callback: AlertCallback | None = None,
        callback_timeout_s: float = 2.0,
    ) -> None:
        if any(p < 1 or p > 100 for p in percents):
            raise ValueError("alert percents must be between 1 and 100")
        self._ledger = ledger
        self._percents = tuple(sorted(set(percents)))
        self._callback = callback
        self._timeout = callback_timeout_s
        # Thresholds this replica already knows are claimed: skips needless ledger calls.
        self._known: dict[str, float] = {}

    async def on_spend(self, window: Window, spent: int, now: float) -> None:
        """Alert for every threshold ``spent`` has reached in ``window`` and nobody claimed.

        Raises `cache.errors.StoreUnavailable` when the ledger cannot record the claim.
        """
        if spent <= 0:
            return
        for percent in self._percents:
            if spent * 100 >= percent * window.cap_usd_micros:
                await self._fire(window, percent, spent, now, "spend")

    async def on_refused(self, window: Window, now: float) -> None:
        """Send the 100 % alert of ``window`` (once) because a request was refused.

        Raises `cache.errors.StoreUnavailable` when the ledger cannot record the claim.
        """
        await self._fire(window, 100, None, now, "refused")

    async def _fire(
        self,
        window: Window,
        percent: int,
        spent: int | None,
        now: float,
        trigger: Literal["spend", "refused"],
    ) -> None:
        mark = f"{percent}:{window.key}"
        if mark in self._known:
            return
        claimed = await self._ledger.claim_alert(window, percent, now)
        self._forget_expired(now)
        self._known[mark] = window.expires_at
        if not claimed:
            return
        if spent is None:
            [(spent, _)] = await self._ledger.read([window], now)
        alert = BudgetAlert(
            scope="global" if window.tenant is None else "tenant",
            tenant=window.tenant,
            period=window.period,
            threshold_percent=percent,
            spent_usd_micros=spent,
            cap_usd_micros=window.cap_usd_micros,
            window_start=window.start,
            resets_at=window.end,
            trigger=trigger,
        )
        _log_alert(alert)
        if self._callback is not None:
            await self._call_back(alert)

    async def _call_back(self, alert: BudgetAlert) -> None:
        assert self._callback is not None
        try:
            with anyio.fail_after(self._timeout):
                await self._callback(alert)
        except Exception:
            # An alert hook must never fail or stall the request that crossed the threshold.
            log.exception("budget alert callback failed")

    def _forget_expired(self, now: float) -> None:
        for mark in [m for m, expires_at in self._known.items() if expires_at <= now]:
            del self._known[mark]


def _log_alert(alert: BudgetAlert) -> None:
    who = "global" if alert.tenant is None else f"tenant {alert.tenant!r}"
    log.log(
        logging.ERROR if alert.threshold_percent >= 100 else logging.WARNING,
        "budget alert: %s %s budget at %d%% (%d of %d micro-USD)",
        who,
        "daily" if alert.period == "day" else "hourly",
        alert.threshold_percent,
        alert.spent_usd_micros,
        alert.cap_usd_micros,
        extra={"event": "budget_alert", **msgspec.structs.asdict(alert)},
    )
