"""Budget windows: clock hours and local days in an IANA zone, DST included; which caps apply."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from metrics.budget_windows import BudgetCaps, WindowPlan, load_zone, window_bounds

NEW_YORK = ZoneInfo("America/New_York")


def _at(
    zone: ZoneInfo,
    year: int,
    month: int,
    day: int,
    hour: int = 0,
    minute: int = 0,
    *,
    fold: int = 0,
) -> float:
    return datetime(year, month, day, hour, minute, tzinfo=zone, fold=fold).timestamp()


class TestWindowBounds:
    def test_hour_is_the_clock_hour(self) -> None:
        now = _at(ZoneInfo("UTC"), 2024, 5, 1, 13, 47)
        start, end = window_bounds("hour", now, ZoneInfo("UTC"))
        assert start == _at(ZoneInfo("UTC"), 2024, 5, 1, 13)
        assert end == _at(ZoneInfo("UTC"), 2024, 5, 1, 14)

    def test_hour_follows_a_half_hour_offset_zone(self) -> None:
        kolkata = ZoneInfo("Asia/Kolkata")
        start, end = window_bounds("hour", _at(kolkata, 2024, 5, 1, 10, 59), kolkata)
        # 10:00 IST is 04:30 UTC: not a UTC hour boundary.
        assert datetime.fromtimestamp(start, UTC).strftime("%H:%M") == "04:30"
        assert end - start == 3600

    def test_day_is_local_midnight_to_midnight(self) -> None:
        now = _at(NEW_YORK, 2024, 5, 1, 23, 30)
        start, end = window_bounds("day", now, NEW_YORK)
        assert start == _at(NEW_YORK, 2024, 5, 1)
        assert end == _at(NEW_YORK, 2024, 5, 2)
        # 04:00 UTC, not UTC midnight.
        assert datetime.fromtimestamp(start, UTC).hour == 4

    def test_spring_forward_day_lasts_23_hours(self) -> None:
        start, end = window_bounds("day", _at(NEW_YORK, 2024, 3, 10, 12), NEW_YORK)
        assert end - start == 23 * 3600

    def test_fall_back_day_lasts_25_hours(self) -> None:
        start, end = window_bounds("day", _at(NEW_YORK, 2024, 11, 3, 12), NEW_YORK)
        assert end - start == 25 * 3600

    def test_repeated_fall_back_hour_is_two_windows(self) -> None:
        first = window_bounds("hour", _at(NEW_YORK, 2024, 11, 3, 1, 30, fold=0), NEW_YORK)
        second = window_bounds("hour", _at(NEW_YORK, 2024, 11, 3, 1, 30, fold=1), NEW_YORK)
        assert second[0] == first[1]
        assert second[1] - second[0] == 3600

    def test_hour_after_the_spring_gap_starts_at_three(self) -> None:
        start, _ = window_bounds("hour", _at(NEW_YORK, 2024, 3, 10, 3, 15), NEW_YORK)
        assert datetime.fromtimestamp(start, NEW_YORK).strftime("%H:%M") == "03:00"
        # The hour before it (01:00 local) ended exactly where this one starts.
        _, previous_end = window_bounds("hour", _at(NEW_YORK, 2024, 3, 10, 1, 59), NEW_YORK)
        assert previous_end == start

    def test_unknown_zone_is_a_value_error(self) -> None:
        with pytest.raises(ValueError, match="Mars/Olympus"):
            load_zone("Mars/Olympus")


class TestWindowPlan:
    def _plan(self, **overrides: BudgetCaps) -> WindowPlan:
        return WindowPlan(
            global_caps=BudgetCaps(hourly_usd_micros=1000),
            tenant_caps=BudgetCaps(hourly_usd_micros=100, daily_usd_micros=500),
            tenant_overrides=overrides,
            zone=ZoneInfo("UTC"),
            expiry_grace_s=60.0,
        )

    def test_unset_caps_make_no_window(self) -> None:
        windows = self._plan().windows("acme", 1_700_000_000.0)
        assert [(w.tenant, w.period, w.cap_usd_micros) for w in windows] == [
            (None, "hour", 1000),
            ("acme", "hour", 100),
            ("acme", "day", 500),
        ]

    def test_override_replaces_the_tenant_default(self) -> None:
        windows = self._plan(vip=BudgetCaps(daily_usd_micros=9000)).windows("vip", 1_700_000_000.0)
        assert [(w.tenant, w.period, w.cap_usd_micros) for w in windows] == [
            (None, "hour", 1000),
            ("vip", "day", 9000),
        ]

    def test_keys_differ_by_window_and_scope_and_expire_after_a_grace(self) -> None:
        now = 1_700_000_000.0
        plan = self._plan()
        keys = {w.key for w in plan.windows("a", now) + plan.windows("b", now)}
        assert len(keys) == 5  # one global hour, two windows for each tenant
        later = plan.windows("a", now + 3600)
        assert later[0].key != plan.windows("a", now)[0].key
        assert all(w.expires_at == w.end + 60.0 for w in later)

    def test_negative_caps_are_refused(self) -> None:
        with pytest.raises(ValueError, match="zero or more"):
            BudgetCaps(hourly_usd_micros=-1)
