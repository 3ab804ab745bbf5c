"""BudgetGuard: reserve-then-settle against hourly/daily caps, global and per tenant, alerts.

Every behaviour runs on both ledgers: in process, and a real redis-server.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import anyio
import pytest
import redis.asyncio as redis

from agent.errors import BudgetExceeded
from agent.pipeline.costing import BudgetHook, Reservation
from agent.pipeline.request import ChatRequest
from agent.testing import ManualClock
from agent.types import Message
from cache.redis_store import create_redis_client
from metrics.budget import BudgetGuard, WindowUsage
from metrics.budget_alerts import BudgetAlert
from metrics.budget_errors import BudgetExhausted
from metrics.budget_ledger import BudgetLedger, MemoryBudgetLedger
from metrics.budget_redis import RedisBudgetLedger
from metrics.budget_windows import BudgetCaps

pytestmark = pytest.mark.anyio

# 2024-05-01 12:00:00 UTC, a Wednesday.
NOON = datetime(2024, 5, 1, 12, tzinfo=UTC).timestamp()


def req(tenant: str = "default") -> ChatRequest:
    return ChatRequest(messages=(Message("user", "hi"),), tenant=tenant)


@pytest.fixture(params=["memory", "redis"])
async def ledger(request: pytest.FixtureRequest) -> AsyncIterator[BudgetLedger]:
    if request.param == "memory":
        yield MemoryBudgetLedger()
        return
    server = request.getfixturevalue("redis_server")
    client: redis.Redis = create_redis_client(server.url, pool_size=8, timeout_s=2.0)
    yield RedisBudgetLedger(client, namespace=f"test:{uuid.uuid4().hex}:", op_timeout_s=2.0)
    await client.aclose()


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(start=NOON)


class Alerts:
    """Collects what `BudgetGuard` hands its ``on_alert`` callback."""

    def __init__(self) -> None:
        self.seen: list[BudgetAlert] = []

    async def __call__(self, alert: BudgetAlert) -> None:
        self.seen.append(alert)

    def levels(self) -> list[tuple[str | None, str, int, str]]:
        return [(a.tenant, a.period, a.threshold_percent, a.trigger) for a in self.seen]


def guard(ledger: BudgetLedger, clock: ManualClock, **kwargs: Any) -> BudgetGuard:
    return BudgetGuard(ledger, clock=clock, **kwargs)


def hourly(cap: int) -> BudgetCaps:
    return BudgetCaps(hourly_usd_micros=cap)


class TestReserve:
    async def test_guard_is_a_budget_hook(self, ledger: BudgetLedger, clock: ManualClock) -> None:
        assert isinstance(guard(ledger, clock), BudgetHook)

    async def test_grants_up_to_the_cap_then_refuses_until_the_hour_resets(
        self, ledger: BudgetLedger, clock: ManualClock
    ) -> None:
        budget = guard(ledger, clock, global_caps=hourly(1000))
        await budget.reserve(req(), 400)
        await budget.reserve(req(), 600)  # exactly the cap
        clock.advance(10)
        with pytest.raises(BudgetExhausted) as caught:
            await budget.reserve(req(), 1)
        assert isinstance(caught.value, BudgetExceeded)
        assert caught.value.code == "budget_exceeded"
        assert caught.value.retry_after_s == 3590
        assert [(w.tenant, w.period) for w in caught.value.windows] == [(None, "hour")]
        clock.advance(3590)
        assert (await budget.reserve(req(), 1000)).reserved_usd_micros == 1000

    async def test_a_refusal_changes_no_counter(
        self, ledger: BudgetLedger, clock: ManualClock
    ) -> None:
        budget = guard(
            ledger,
            clock,
            global_caps=BudgetCaps(hourly_usd_micros=1000, daily_usd_micros=5000),
            tenant_caps=hourly(300),
        )
        await budget.reserve(req("acme"), 200)
        with pytest.raises(BudgetExhausted) as caught:
            await budget.reserve(req("acme"), 200)  # only the tenant hour overflows
        assert [(w.tenant, w.period) for w in caught.value.windows] == [("acme", "hour")]
        reserved = [u.reserved_usd_micros for u in await budget.usage(tenants=["acme"])]
        assert reserved == [200, 200, 200]

    async def test_retry_after_waits_for_the_last_blocking_window(
        self, ledger: BudgetLedger, clock: ManualClock
    ) -> None:
        budget = guard(ledger, clock, global_caps=BudgetCaps(1000, 1000))
        await budget.reserve(req(), 1000)
        with pytest.raises(BudgetExhausted) as caught:
            await budget.reserve(req(), 1)
        # Both the hour and the day are full: only midnight frees room.
        assert {w.period for w in caught.value.windows} == {"hour", "day"}
        assert caught.value.retry_after_s == 12 * 3600

    async def test_tenants_have_their_own_caps_and_share_the_global_one(
        self, ledger: BudgetLedger, clock: ManualClock
    ) -> None:
        budget = guard(
            ledger,
            clock,
            global_caps=hourly(1000),
            tenant_caps=hourly(400),
            tenant_overrides={"vip": hourly(900)},
        )
        await budget.reserve(req("a"), 400)
        with pytest.raises(BudgetExhausted):
            await budget.reserve(req("a"), 1)
        await budget.reserve(req("b"), 400)
        with pytest.raises(BudgetExhausted) as caught:
            await budget.reserve(req("vip"), 300)  # vip's own cap fits; the global one does not
        assert [w.tenant for w in caught.value.windows] == [None]
        await budget.reserve(req("vip"), 200)

    async def test_no_caps_means_unlimited_and_nothing_to_settle(
        self, ledger: BudgetLedger, clock: ManualClock
    ) -> None:
        budget = guard(ledger, clock, tenant_overrides={"small": hourly(10)})
        reservation = await budget.reserve(req("anyone"), 10**12)
        assert reservation == Reservation(reserved_usd_micros=10**12)
        await budget.settle(reservation, 10**12)
        assert await budget.usage() == []
        with pytest.raises(BudgetExhausted):
            await budget.reserve(req("small"), 11)

    async def test_a_zero_cap_refuses_any_cost_but_admits_free_requests(
        self, ledger: BudgetLedger, clock: ManualClock
    ) -> None:
        budget = guard(ledger, clock, global_caps=BudgetCaps(daily_usd_micros=0))
        with pytest.raises(BudgetExhausted):
            await budget.reserve(req(), 1)
        await budget.settle(await budget.reserve(req(), 0), 0)

    async def test_day_windows_follow_the_configured_zone(
        self, ledger: BudgetLedger, clock: ManualClock
    ) -> None:
        # 12:00 UTC is 21:00 in Tokyo: the Tokyo day ends in 3 hours.
        budget = guard(
            ledger, clock, global_caps=BudgetCaps(daily_usd_micros=10), timezone="Asia/Tokyo"
        )
        await budget.reserve(req(), 10)
        with pytest.raises(BudgetExhausted) as caught:
            await budget.reserve(req(), 1)
        assert caught.value.retry_after_s == 3 * 3600


class TestSettle:
    async def test_settle_replaces_the_hold_by_the_actual_cost(
        self, ledger: BudgetLedger, clock: ManualClock
    ) -> None:
        budget = guard(ledger, clock, global_caps=hourly(1000))
        first = await budget.reserve(req(), 800)
        await budget.settle(first, 150)
        [usage] = await budget.usage()
        assert (usage.spent_usd_micros, usage.reserved_usd_micros) == (150, 0)
        await budget.reserve(req(), 850)  # the 650 released are available again

    async def test_settling_twice_is_a_no_op(
        self, ledger: BudgetLedger, clock: ManualClock
    ) -> None:
        budget = guard(ledger, clock, global_caps=hourly(1000))
        reservation = await budget.reserve(req(), 500)
        await budget.settle(reservation, 200)
        await budget.settle(reservation, 200)
        await budget.settle(Reservation(500, token="never-issued"), 200)
        [usage] = await budget.usage()
        assert (usage.spent_usd_micros, usage.reserved_usd_micros) == (200, 0)

    async def test_settle_lands_in_the_windows_of_the_reservation(
        self, ledger: BudgetLedger, clock: ManualClock
    ) -> None:
        budget = guard(ledger, clock, global_caps=BudgetCaps(1000, 5000))
        clock.advance(3599)  # 12:59:59
        reservation = await budget.reserve(req(), 700)
        clock.advance(2)  # 13:00:01: a new hour, the same day
        await budget.settle(reservation, 300)
        now_hour, day = await budget.usage()
        assert (now_hour.spent_usd_micros, now_hour.reserved_usd_micros) == (0, 0)
        assert (day.spent_usd_micros, day.reserved_usd_micros) == (300, 0)
        clock.now = NOON + 1800  # look back at 12:xx
        [old_hour, _] = await budget.usage()
        assert (old_hour.spent_usd_micros, old_hour.reserved_usd_micros) == (300, 0)

    async def test_settle_after_the_window_expired_changes_nothing(
        self, ledger: BudgetLedger, clock: ManualClock
    ) -> None:
        budget = guard(ledger, clock, global_caps=hourly(1000), expiry_grace_s=60.0)
        reservation = await budget.reserve(req(), 700)
        clock.advance(3600 + 61)
        await budget.settle(reservation, 300)
        [usage] = await budget.usage()
        assert (usage.spent_usd_micros, usage.reserved_usd_micros) == (0, 0)

    async def test_a_cost_above_the_reservation_is_recorded_in_full(
        self, ledger: BudgetLedger, clock: ManualClock
    ) -> None:
        budget = guard(ledger, clock, global_caps=hourly(1000))
        await budget.settle(await budget.reserve(req(), 100), 250)
        [usage] = await budget.usage()
        assert usage.spent_usd_micros == 250

    async def test_concurrent_requests_never_commit_past_the_cap(
        self, ledger: BudgetLedger, clock: ManualClock
    ) -> None:
        budget = guard(ledger, clock, global_caps=hourly(5_000), tenant_caps=hourly(3_000))
        granted: list[Reservation] = []
        refused = 0

        async def one(i: int) -> None:
            nonlocal refused
            try:
                granted.append(await budget.reserve(req(f"t{i % 3}"), 100 + i % 7))
            except BudgetExhausted:
                refused += 1

        async with anyio.create_task_group() as tg:
            for i in range(200):
                tg.start_soon(one, i)
        total = sum(r.reserved_usd_micros for r in granted)
        assert refused > 0 and 5_000 - 106 < total <= 5_000
        usage = await budget.usage(tenants=["t0", "t1", "t2"])
        assert usage[0].reserved_usd_micros == total
        assert all(u.reserved_usd_micros <= 3_000 for u in usage[1:])


class TestUsage:
    async def test_usage_reports_each_window(
        self, ledger: BudgetLedger, clock: ManualClock
    ) -> None:
        budget = guard(
            ledger, clock, global_caps=BudgetCaps(2000, 10_000), tenant_caps=hourly(1000)
        )
        await budget.settle(await budget.reserve(req("acme"), 600), 500)
        await budget.reserve(req("acme"), 100)
        usage = await budget.usage(tenants=["acme", "idle"])
        assert usage == [
            WindowUsage("global", None, "hour", 500, 100, 2000, 25.0, NOON, NOON + 3600),
            WindowUsage(
                "global", None, "day", 500, 100, 10_000, 5.0, NOON - 12 * 3600, NOON + 12 * 3600
            ),
            WindowUsage("tenant", "acme", "hour", 500, 100, 1000, 50.0, NOON, NOON + 3600),
            WindowUsage("tenant", "idle", "hour", 0, 0, 1000, 0.0, NOON, NOON + 3600),
        ]


class TestAlerts:
    async def test_each_threshold_fires_exactly_once_per_window(
        self, ledger: BudgetLedger, clock: ManualClock, caplog: pytest.LogCaptureFixture
    ) -> None:
        alerts = Alerts()
        budget = guard(ledger, clock, global_caps=hourly(1000), on_alert=alerts)
        caplog.set_level(logging.WARNING, logger="frugal.budget")
        for actual in (300, 300, 300, 0, 100, 0, 0):
            await budget.settle(await budget.reserve(req(), actual), actual)
        with pytest.raises(BudgetExhausted):
            await budget.reserve(req(), 1)  # the 100 % alert was already sent
        assert alerts.levels() == [
            (None, "hour", 50, "spend"),
            (None, "hour", 80, "spend"),
            (None, "hour", 100, "spend"),
        ]
        assert [a.spent_usd_micros for a in alerts.seen] == [600, 900, 1000]
        records = [r for r in caplog.records if r.name == "frugal.budget"]
        assert [r.__dict__["threshold_percent"] for r in records] == [50, 80, 100]
        assert records[0].__dict__["event"] == "budget_alert"
        assert records[0].__dict__["cap_usd_micros"] == 1000
        assert [r.levelno for r in records] == [logging.WARNING, logging.WARNING, logging.ERROR]
        # A new hour is a new window: its thresholds fire again.
        clock.advance(3600)
        await budget.settle(await budget.reserve(req(), 100), 500)
        assert alerts.levels()[3:] == [(None, "hour", 50, "spend")]

    async def test_one_settle_can_cross_several_thresholds(
        self, ledger: BudgetLedger, clock: ManualClock
    ) -> None:
        alerts = Alerts()
        budget = guard(ledger, clock, tenant_caps=BudgetCaps(1000, 1000), on_alert=alerts)
        await budget.settle(await budget.reserve(req("acme"), 900), 850)
        assert sorted(alerts.levels()) == [
            ("acme", "day", 50, "spend"),
            ("acme", "day", 80, "spend"),
            ("acme", "hour", 50, "spend"),
            ("acme", "hour", 80, "spend"),
        ]

    async def test_refusal_fires_the_100_percent_alert_once(
        self, ledger: BudgetLedger, clock: ManualClock
    ) -> None:
        alerts = Alerts()
        budget = guard(ledger, clock, global_caps=hourly(1000), on_alert=alerts)
        await budget.settle(await budget.reserve(req(), 300), 300)
        await budget.reserve(req(), 500)
        for _ in range(3):
            with pytest.raises(BudgetExhausted):
                await budget.reserve(req(), 300)
        assert alerts.levels() == [(None, "hour", 100, "refused")]
        assert alerts.seen[0].spent_usd_micros == 300
        await budget.settle(await budget.reserve(req(), 200), 200)
        # Spend then reaches 50 % and fires it; the 100 % alert was already sent.
        assert alerts.levels()[1:] == [(None, "hour", 50, "spend")]

    async def test_a_failing_callback_never_breaks_the_request(
        self, ledger: BudgetLedger, clock: ManualClock, caplog: pytest.LogCaptureFixture
    ) -> None:
        async def broken(alert: BudgetAlert) -> None:
            raise RuntimeError("webhook down")

        budget = guard(ledger, clock, global_caps=hourly(100), on_alert=broken)
        await budget.settle(await budget.reserve(req(), 100), 100)
        [usage] = await budget.usage()
        assert usage.spent_usd_micros == 100
        assert any("callback failed" in r.getMessage() for r in caplog.records)

    async def test_custom_thresholds(self, ledger: BudgetLedger, clock: ManualClock) -> None:
        alerts = Alerts()
        budget = guard(
            ledger, clock, global_caps=hourly(1000), alert_percents=(90,), on_alert=alerts
        )
        await budget.settle(await budget.reserve(req(), 1000), 950)
        assert alerts.levels() == [(None, "hour", 90, "spend")]
