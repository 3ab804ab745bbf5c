"""Budget windows: clock hours and days in a configured time zone, and the caps that apply.

A window is identified by its period, its real start instant and its scope (global or one
tenant), so the two repeated local hours of a DST fall-back night are two windows, and a day
is local midnight to the next local midnight (23 or 25 hours around DST changes).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import msgspec

Period = Literal["hour", "day"]
PERIODS: tuple[Period, ...] = ("hour", "day")


class BudgetCaps(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """Spending caps in micro-USD per clock hour and per day; ``None`` means unlimited."""

    hourly_usd_micros: int | None = None
    daily_usd_micros: int | None = None

    def __post_init__(self) -> None:
        for cap in (self.hourly_usd_micros, self.daily_usd_micros):
            if cap is not None and cap < 0:
                raise ValueError("budget caps must be zero or more micro-USD (or None)")

    def cap_for(self, period: Period) -> int | None:
        """The cap of ``period``, or ``None`` when it is unlimited."""
        return self.hourly_usd_micros if period == "hour" else self.daily_usd_micros


class Window(msgspec.Struct, frozen=True):
    """One budget window: ``[start, end)`` in epoch seconds, for ``tenant`` (``None``: global).

    ``expires_at`` is when its counters may be forgotten: a grace after ``end`` so requests
    that started inside the window can still settle into it.
    """

    period: Period
    tenant: str | None
    start: float
    end: float
    cap_usd_micros: int
    expires_at: float

    @property
    def key(self) -> str:
        """The window's logical storage key; the tenant comes last so no name can collide."""
        scope = "g" if self.tenant is None else "t:" + self.tenant
        return f"{self.period}:{int(self.start)}:{scope}"

    @property
    def scope(self) -> str:
        """``"global"`` or ``"tenant"``."""
        return "global" if self.tenant is None else "tenant"

    def ttl_s(self, now: float) -> float:
        """Seconds its counters must still live at ``now`` (at least one millisecond)."""
        return max(self.expires_at - now, 0.001)


def load_zone(name: str) -> ZoneInfo:
    """The IANA zone ``name``; raises ``ValueError`` when it is unknown."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(f"unknown IANA time zone {name!r}") from exc


def window_bounds(period: Period, now: float, zone: ZoneInfo) -> tuple[float, float]:
    """The ``(start, end)`` epoch seconds of the ``period`` window that contains ``now``."""
    local = datetime.fromtimestamp(now, zone)
    if period == "hour":
        # replace() keeps `fold`, so the second 01:xx of a fall-back night is its own hour.
        start = local.replace(minute=0, second=0, microsecond=0).timestamp()
        return start, start + 3600.0
    day = local.date()
    following = day + timedelta(days=1)
    # fold=0 maps a midnight that falls in a DST gap to the transition instant itself.
    start = datetime(day.year, day.month, day.day, tzinfo=zone).timestamp()
    end = datetime(following.year, following.month, following.day, tzinfo=zone).timestamp()
    return start, end


class WindowPlan:
    """Which windows apply to a tenant at a given instant, from the configured caps."""

    def __init__(
        self,
        *,
        global_caps: BudgetCaps,
        tenant_caps: BudgetCaps,
        tenant_overrides: Mapping[str, BudgetCaps],
        zone: ZoneInfo,
        expiry_grace_s: float,
    ) -> None:
        if expiry_grace_s <= 0 or not math.isfinite(expiry_grace_s):
            raise ValueError("expiry_grace_s must be a positive number of seconds")
        self._global = global_caps
        self._tenant = tenant_caps
        self._overrides = dict(tenant_overrides)
        self._zone = zone
        self._grace = expiry_grace_s

    def caps_for(self, tenant: str) -> BudgetCaps:
        """The caps of ``tenant``: its override if configured, else the per-tenant default."""
        return self._overrides.get(tenant, self._tenant)

    def windows(self, tenant: str, now: float) -> list[Window]:
        """The capped windows a request of ``tenant`` touches at ``now``: global, then tenant."""
        return self.scope_windows(None, now) + self.scope_windows(tenant, now)

    def scope_windows(self, tenant: str | None, now: float) -> list[Window]:
        """The capped windows of one scope at ``now`` (``None``: the global scope)."""
        caps = self._global if tenant is None else self.caps_for(tenant)
        found: list[Window] = []
        for period in PERIODS:
            cap = caps.cap_for(period)
            if cap is None:
                continue
            start, end = window_bounds(period, now, self._zone)
            found.append(Window(period, tenant, start, end, cap, end + self._grace))
        return found
