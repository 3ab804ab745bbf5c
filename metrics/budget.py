"""`BudgetGuard`: hourly and daily spending caps, global and per tenant, reserve-then-settle.

Before the upstream call the pipeline reserves the request's worst-case cost in every window
that applies (global hour/day, tenant hour/day; unset caps are unlimited). The ledger grants it
only if every window stays within its cap, atomically, so any number of concurrent requests and
replicas together never commit more than a cap. Afterwards the hold is replaced by the real
cost in the *same* windows, even when the clock has moved on. A request whose real cost exceeds
its reservation (the estimate was wrong) is still recorded in full: the money is spent.

Each hold expires ``hold_ttl_s`` after it is made, so a replica that dies or stalls mid-call
strands nothing for long; a hold id is held and settled at most once. In ``estimated`` hold
mode (`metrics.output_estimate`) the caller holds the p95 of recent answers instead of the
answer cap: a cap can then be passed by at most what the calls in flight spend beyond their
holds, since every call's real cost is recorded in full.
"""

from __future__ import annotations

import logging
import math
import time
import uuid
from collections import Counter, deque
from collections.abc import Callable, Mapping, Sequence
from typing import Literal, NamedTuple, NoReturn

import anyio
import anyio.lowlevel
import msgspec

from cache.errors import StoreUnavailable
from metrics.budget_alerts import DEFAULT_ALERT_PERCENTS, AlertCallback, AlertNotifier
from metrics.budget_errors import BudgetExhausted, BudgetUnavailable
from metrics.budget_ledger import BudgetLedger
from metrics.budget_windows import BudgetCaps, Period, Window, WindowPlan, load_zone
from metrics.output_estimate import SYNC_INTERVAL_S, HoldMode, OutputEstimate, OutputSamples
from metrics.reservation import Reservation, TenantScoped

log = logging.getLogger("frugal.budget")

# Failed settlements kept for a retry; past this the oldest are dropped (their holds then
# simply expire after their TTL).
MAX_UNSETTLED = 100_000
RETRY_UNSETTLED_S = 1.0


class WindowUsage(msgspec.Struct, frozen=True):
    """One window's state for ``/stats``: money in micro-USD, times in epoch seconds.

    ``percent`` is settled spend over the cap (what alerts use); ``reserved`` is held by
    requests in flight and also counts against the cap.
    """

    scope: Literal["global", "tenant"]
    tenant: str | None
    period: Period
    spent_usd_micros: int
    reserved_usd_micros: int
    cap_usd_micros: int
    percent: float
    window_start: float
    resets_at: float


class _Hold(NamedTuple):
    windows: tuple[Window, ...]
    reservation: Reservation
    expires_at: float


class BudgetGuard:
    """An `agent.pipeline.costing.BudgetHook` enforcing caps kept in a `BudgetLedger`.

    Windows are clock hours and days in ``timezone`` (IANA name), read from ``clock`` (epoch
    seconds). ``tenant_overrides`` replace ``tenant_caps`` for the tenants they name. Alerts at
    ``alert_percents`` go to the ``frugal.budget`` log and ``on_alert``.

    When the ledger is unreachable, ``fail_open=False`` (default) refuses the requests a cap
    applies to with `BudgetUnavailable` (a cap nobody can check is not passed), and
    ``fail_open=True`` admits them unguarded; either way the failure is counted in
    ``errors_total`` and logged (at most once per ``log_interval_s``).

    An unsettled hold stops counting ``hold_ttl_s`` after it was made. ``hold_mode`` says
    what a caller should hold for a call's answer (`output_tokens`): its cap
    (``worst_case``) or the p95 of the model's recent answers (``estimated``), shared by the
    replicas through ``output_samples`` if given (see `keep_syncing_outputs`).
    """

    def __init__(
        self,
        ledger: BudgetLedger,
        *,
        global_caps: BudgetCaps | None = None,
        tenant_caps: BudgetCaps | None = None,
        tenant_overrides: Mapping[str, BudgetCaps] | None = None,
        timezone: str = "UTC",
        clock: Callable[[], float] = time.time,
        alert_percents: Sequence[int] = DEFAULT_ALERT_PERCENTS,
        on_alert: AlertCallback | None = None,
        fail_open: bool = False,
        expiry_grace_s: float = 900.0,
        log_interval_s: float = 30.0,
        hold_ttl_s: float = 600.0,
        hold_mode: HoldMode = "worst_case",
        output_samples: OutputSamples | None = None,
    ) -> None:
        if hold_ttl_s <= 0:
            raise ValueError("hold_ttl_s must be positive")
        self._ledger = ledger
        self._hold_ttl = hold_ttl_s
        self._outputs = OutputEstimate(mode=hold_mode, shared=output_samples)
        self._plan = WindowPlan(
            global_caps=global_caps or BudgetCaps(),
            tenant_caps=tenant_caps or BudgetCaps(),
            tenant_overrides=tenant_overrides or {},
            zone=load_zone(timezone),
            expiry_grace_s=expiry_grace_s,
        )
        self._clock = clock
        self._alerts = AlertNotifier(ledger, percents=alert_percents, callback=on_alert)
        self._fail_open = fail_open
        self.errors_by_op: Counter[str] = Counter()  # ledger failures by operation
        self.fail_open_total = 0  # requests admitted unguarded while the ledger was down
        self._holds: dict[str, _Hold] = {}
        # Settlements the ledger could not take (and releases of holds whose reservation
        # failed midway, which the ledger may have made all the same): retried in order.
        self._unsettled: deque[tuple[tuple[Window, ...], str, int]] = deque(maxlen=MAX_UNSETTLED)
        self._retry_at = float("-inf")
        self._log_interval = log_interval_s
        self._last_log_at = float("-inf")
        self._unlogged = 0
        self.errors_total = 0

    async def reserve(
        self, request: TenantScoped, worst_case_usd_micros: int, *, hold_id: str = ""
    ) -> Reservation:
        """Hold ``worst_case_usd_micros`` in every window that applies to ``request.tenant``.

        ``hold_id`` (default: a fresh one) names the hold: reserving an id already held
        returns the same reservation and holds nothing more. Raises `BudgetExhausted` (a
        `BudgetExceeded`) when a window cannot cover it, and `BudgetUnavailable` when the
        ledger is down and the guard fails closed.
        """
        if worst_case_usd_micros < 0:
            raise ValueError("the worst-case cost must be zero or more micro-USD")
        held = self._holds.get(hold_id) if hold_id else None
        if held is not None:
            return held.reservation
        now = self._clock()
        windows = self._plan.windows(request.tenant, now)
        if not windows:
            return Reservation(reserved_usd_micros=worst_case_usd_micros)
        await self._retry_unsettled()
        token = hold_id or uuid.uuid4().hex
        try:
            # Shielded (the ledger bounds it): a hold made for a caller that is already gone
            # must be known here, so it can be released below instead of lingering all day.
            with anyio.CancelScope(shield=True):
                blocked = await self._ledger.reserve(
                    windows,
                    worst_case_usd_micros,
                    now,
                    hold_id=token,
                    expires_at=now + self._hold_ttl,
                )
        except StoreUnavailable as exc:
            self._store_failed("reserve", exc)
            # A reservation that timed out may still be applied once Redis answers: release
            # it then (a hold id settled first can no longer be held).
            self._unsettled.append((tuple(windows), token, 0))
            if self._fail_open:
                self.fail_open_total += 1
                return Reservation(reserved_usd_micros=worst_case_usd_micros)
            raise BudgetUnavailable("the budget store is unavailable") from exc
        if blocked:
            await self._refuse(tuple(windows[i] for i in blocked), worst_case_usd_micros, now)
        self._forget_stale_holds(now)
        expires_at = max(window.expires_at for window in windows)
        reservation = Reservation(reserved_usd_micros=worst_case_usd_micros, token=token)
        self._holds[token] = _Hold(tuple(windows), reservation, expires_at)
        try:
            await anyio.lowlevel.checkpoint_if_cancelled()
        except anyio.get_cancelled_exc_class():
            with anyio.CancelScope(shield=True):
                await self.settle(reservation, 0)
            raise
        return reservation

    async def settle(self, reservation: Reservation, actual_usd_micros: int) -> None:
        """Replace the hold by ``actual_usd_micros`` in the windows it was made in.

        Settling a reservation again, or one made without a hold, does nothing. Never raises
        for budget or store reasons: a settlement the store cannot take is counted and kept,
        and retried (oldest first) before the next reservation or settlement.
        """
        if actual_usd_micros < 0:
            raise ValueError("the actual cost must be zero or more micro-USD")
        hold = self._holds.pop(reservation.token, None) if reservation.token else None
        if hold is None:
            return
        await self._retry_unsettled()
        now = self._clock()
        try:
            with anyio.CancelScope(shield=True):  # the hold is already popped: finish it
                spent = await self._ledger.settle(
                    hold.windows, reservation.token, actual_usd_micros, now
                )
            for window, total in zip(hold.windows, spent, strict=True):
                if total is not None:
                    await self._alerts.on_spend(window, total, now)
        except StoreUnavailable as exc:
            self._store_failed("settle", exc)
            self._unsettled.append((hold.windows, reservation.token, actual_usd_micros))

    @property
    def unsettled(self) -> int:
        """Settlements waiting for the ledger to answer again."""
        return len(self._unsettled)

    async def _retry_unsettled(self) -> None:
        # Oldest first; the ledger settles a hold id once, so a retry of a settlement that
        # did land after all changes nothing. Stop at the first failure (it is still down)
        # and wait a while before the next try, so an outage does not double every timeout.
        if not self._unsettled or self._clock() < self._retry_at:
            return
        while self._unsettled:
            windows, token, actual = self._unsettled.popleft()
            try:
                with anyio.CancelScope(shield=True):
                    await self._ledger.settle(windows, token, actual, self._clock())
            except StoreUnavailable:
                self._unsettled.appendleft((windows, token, actual))
                self._retry_at = self._clock() + RETRY_UNSETTLED_S
                return

    def output_tokens(self, model: str, cap: int) -> int:
        """The output tokens to hold for a call to ``model`` capped at ``cap`` (see the class)."""
        return self._outputs.output_tokens(model, cap)

    def observe_output(self, model: str, tokens: int) -> None:
        """Record the output tokens of a finished call to ``model`` (for ``estimated`` holds)."""
        self._outputs.observe(model, tokens)

    async def keep_syncing_outputs(self, interval_s: float = SYNC_INTERVAL_S) -> None:
        """Share the recent answers per model with the other replicas every ``interval_s``
        (`metrics.output_estimate`); runs until cancelled."""
        await self._outputs.keep_syncing(interval_s)

    async def sync_outputs(self) -> None:
        """One round of `keep_syncing_outputs`."""
        await self._outputs.sync()

    async def usage(self, *, tenants: Sequence[str] = ()) -> list[WindowUsage]:
        """The current capped windows: global ones, then those of each of ``tenants``.

        Raises `cache.errors.StoreUnavailable` when the ledger cannot be read.
        """
        now = self._clock()
        windows = self._plan.scope_windows(None, now)
        for tenant in dict.fromkeys(tenants):
            windows += self._plan.scope_windows(tenant, now)
        counters = await self._ledger.read(windows, now)
        return [
            WindowUsage(
                scope="global" if window.tenant is None else "tenant",
                tenant=window.tenant,
                period=window.period,
                spent_usd_micros=spent,
                reserved_usd_micros=reserved,
                cap_usd_micros=window.cap_usd_micros,
                percent=_percent(spent, window.cap_usd_micros),
                window_start=window.start,
                resets_at=window.end,
            )
            for window, (spent, reserved) in zip(windows, counters, strict=True)
        ]

    async def _refuse(self, blocking: tuple[Window, ...], amount: int, now: float) -> NoReturn:
        try:
            for window in blocking:
                await self._alerts.on_refused(window, now)
        except StoreUnavailable as exc:
            self._store_failed("alert", exc)
        names = ", ".join(_describe(window) for window in blocking)
        retry_after = max(window.end for window in blocking) - now
        raise BudgetExhausted(
            f"the {names} budget cannot cover {amount} micro-USD "
            f"(resets in {math.ceil(retry_after)}s)",
            windows=blocking,
            retry_after_s=retry_after,
        )

    def _forget_stale_holds(self, now: float) -> None:
        # A hold nobody settled is dropped once its windows are gone: settling it could no
        # longer change anything. Oldest first; stop at the first one still live.
        while self._holds:
            token = next(iter(self._holds))
            if self._holds[token].expires_at > now:
                return
            del self._holds[token]

    def _store_failed(self, op: str, exc: StoreUnavailable) -> None:
        self.errors_total += 1
        self.errors_by_op[op] += 1
        self._unlogged += 1
        now = self._clock()
        if now - self._last_log_at < self._log_interval:
            return
        policy = "admitting requests unguarded" if self._fail_open else "refusing requests"
        log.error(
            "budget store unavailable during %s, %s (%d errors since last report): %s",
            op,
            policy,
            self._unlogged,
            exc,
            extra={"event": "budget_store_error", "errors_total": self.errors_total},
        )
        self._last_log_at = now
        self._unlogged = 0


def _percent(spent: int, cap: int) -> float:
    return 100.0 if cap == 0 else round(spent * 100 / cap, 2)


def _describe(window: Window) -> str:
    period = "hourly" if window.period == "hour" else "daily"
    return f"global {period}" if window.tenant is None else f"tenant {window.tenant!r} {period}"
