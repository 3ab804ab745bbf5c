"""Budget holds under faults: an unsettled hold expires, and a hold id counts once.

Every behaviour runs on both ledgers (in process, and a real redis-server), as a replica that
crashed mid-call would leave them: a hold made and never settled.
"""

from __future__ import annotations

import pytest

from agent.testing import ManualClock
from metrics.budget_errors import BudgetExhausted
from metrics.budget_ledger import BudgetLedger
from metrics.output_estimate import OutputEstimate
from tests.metrics.test_budget import clock, guard, hourly, ledger, req

__all__ = ["clock", "ledger"]  # fixtures shared with test_budget

pytestmark = pytest.mark.anyio


class TestHoldExpiry:
    async def test_an_unsettled_hold_stops_counting_after_its_ttl(
        self, ledger: BudgetLedger, clock: ManualClock
    ) -> None:
        crashed = guard(ledger, clock, global_caps=hourly(1000), hold_ttl_s=60.0)
        await crashed.reserve(req(), 900)  # its replica dies before settling
        survivor = guard(ledger, clock, global_caps=hourly(1000), hold_ttl_s=60.0)
        with pytest.raises(BudgetExhausted):
            await survivor.reserve(req(), 200)
        clock.advance(59)
        with pytest.raises(BudgetExhausted):
            await survivor.reserve(req(), 200)
        clock.advance(2)
        granted = await survivor.reserve(req(), 1000)
        [window] = await survivor.usage()
        assert (window.spent_usd_micros, window.reserved_usd_micros) == (0, 1000)
        await survivor.settle(granted, 700)
        [window] = await survivor.usage()
        assert (window.spent_usd_micros, window.reserved_usd_micros) == (700, 0)

    async def test_usage_stops_showing_an_expired_hold_before_any_new_reservation(
        self, ledger: BudgetLedger, clock: ManualClock
    ) -> None:
        crashed = guard(ledger, clock, global_caps=hourly(1000), hold_ttl_s=60.0)
        await crashed.reserve(req(), 900)  # never settled
        clock.advance(61)
        [window] = await crashed.usage()
        assert (window.spent_usd_micros, window.reserved_usd_micros) == (0, 0)

    async def test_settling_after_expiry_records_the_cost_without_releasing_twice(
        self, ledger: BudgetLedger, clock: ManualClock
    ) -> None:
        budget = guard(ledger, clock, global_caps=hourly(1000), hold_ttl_s=60.0)
        stalled = await budget.reserve(req(), 800)
        clock.advance(120)  # the hold expired while the call was stuck
        other = await budget.reserve(req(), 100)  # prunes the expired hold
        await budget.settle(stalled, 300)  # the money was spent all the same
        [window] = await budget.usage()
        assert (window.spent_usd_micros, window.reserved_usd_micros) == (300, 100)
        await budget.settle(other, 100)
        [window] = await budget.usage()
        assert (window.spent_usd_micros, window.reserved_usd_micros) == (400, 0)


class TestHoldIdempotency:
    async def test_the_same_hold_id_is_held_once(
        self, ledger: BudgetLedger, clock: ManualClock
    ) -> None:
        budget = guard(ledger, clock, global_caps=hourly(1000))
        first = await budget.reserve(req(), 600, hold_id="req-1")
        again = await budget.reserve(req(), 600, hold_id="req-1")
        assert first == again and first.token == "req-1"
        # Another replica retrying the same request id holds nothing more either.
        elsewhere = guard(ledger, clock, global_caps=hourly(1000))
        await elsewhere.reserve(req(), 600, hold_id="req-1")
        [window] = await budget.usage()
        assert window.reserved_usd_micros == 600

    async def test_settling_twice_settles_once(
        self, ledger: BudgetLedger, clock: ManualClock
    ) -> None:
        budget = guard(ledger, clock, global_caps=hourly(1000))
        reservation = await budget.reserve(req(), 600, hold_id="req-2")
        await budget.settle(reservation, 250)
        await budget.settle(reservation, 250)
        # A second replica settling the same hold (it re-reserved it) changes nothing.
        elsewhere = guard(ledger, clock, global_caps=hourly(1000))
        await elsewhere.settle(await elsewhere.reserve(req(), 600, hold_id="req-2"), 250)
        [window] = await budget.usage()
        assert (window.spent_usd_micros, window.reserved_usd_micros) == (250, 0)


class TestOutputEstimate:
    def test_worst_case_mode_always_holds_the_cap(self) -> None:
        estimate = OutputEstimate(mode="worst_case")
        for _ in range(50):
            estimate.observe("m", 100)
        assert estimate.output_tokens("m", 4096) == 4096

    def test_estimated_mode_holds_the_p95_once_it_has_enough_samples(self) -> None:
        estimate = OutputEstimate(mode="estimated", min_samples=20)
        for tokens in range(1, 20):
            estimate.observe("m", tokens)
        assert estimate.output_tokens("m", 4096) == 4096  # 19 samples: still the cap
        estimate.observe("m", 20)
        assert estimate.output_tokens("m", 4096) == 19
        assert estimate.output_tokens("m", 10) == 10  # never above the cap
        assert estimate.output_tokens("other", 4096) == 4096

    def test_memory_stays_bounded(self) -> None:
        estimate = OutputEstimate(mode="estimated", window=20, min_samples=20, max_models=2)
        for model in ("a", "b", "c"):
            for _ in range(30):
                estimate.observe(model, 7)
        assert estimate.output_tokens("a", 99) == 99  # forgotten
        assert estimate.output_tokens("c", 99) == 7
