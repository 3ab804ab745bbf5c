"""CostTracker in process: exact integer sums, per-call rounding, unpriced calls, the rolling
monthly estimate under a manual clock, and concurrent records."""

from __future__ import annotations

import math
import random
from fractions import Fraction

import anyio
import pytest

from agent.testing import ManualClock
from agent.types import Usage
from metrics.cost_tracker import MONTH_S, CallRecord, CostTotals, CostTracker
from metrics.pricing import DEFAULT_PRICES, PriceTable

pytestmark = pytest.mark.anyio

# A minute boundary, so bucket arithmetic in the tests reads plainly.
T0 = 1_700_000_040.0
PRICES = PriceTable()


def reference_cost(model: str, usage: Usage) -> int:
    """The documented rule, computed with exact fractions instead of the code under test."""
    price = DEFAULT_PRICES[model]
    plain = usage.prompt - usage.cached_prompt - usage.cache_write
    exact = Fraction(
        plain * price.input
        + usage.cached_prompt * price.cached_input
        + usage.cache_write * price.cache_write
        + usage.completion * price.output,
        1_000_000,
    )
    return math.ceil(exact)


def priced(model: str, usage: Usage, *, tier: str = "cheap", tenant: str = "t1") -> CallRecord:
    cost = PRICES.cost_usd_micros(model, usage)
    assert cost is not None
    return CallRecord(model=model, tier=tier, tenant=tenant, usage=usage, cost_usd_micros=cost)


def random_usage(rng: random.Random) -> Usage:
    cached = rng.randrange(0, 2_000)
    written = rng.randrange(0, 1_000)
    return Usage(
        prompt=cached + written + rng.randrange(1, 3_000),
        cached_prompt=cached,
        cache_write=written,
        completion=rng.randrange(0, 800),
        estimated=rng.random() < 0.1,
    )


class TestTotals:
    async def test_many_calls_sum_exactly_with_cached_and_cache_write_tokens(self) -> None:
        rng = random.Random(5)
        tracker = CostTracker()
        models = ["claude-sonnet-4-6", "claude-haiku-4-5", "gpt-4o", "gpt-4o-mini", "gpt-4.1"]
        expected_cost = {model: 0 for model in models}
        expected_calls = dict.fromkeys(models, 0)
        total_usage = Usage()
        for _ in range(600):
            model = rng.choice(models)
            usage = random_usage(rng)
            await tracker.record(priced(model, usage))
            expected_cost[model] += reference_cost(model, usage)
            expected_calls[model] += 1
            total_usage += usage

        snap = await tracker.snapshot()
        assert snap.totals.cost_usd_micros == sum(expected_cost.values())
        assert snap.totals.calls == 600
        assert snap.totals.prompt_tokens == total_usage.prompt
        assert snap.totals.cached_prompt_tokens == total_usage.cached_prompt
        assert snap.totals.cache_write_tokens == total_usage.cache_write
        assert snap.totals.completion_tokens == total_usage.completion
        for model in models:
            assert snap.by_model[model].cost_usd_micros == expected_cost[model]
            assert snap.by_model[model].calls == expected_calls[model]
        assert snap.totals.unpriced_calls == 0

    async def test_known_anthropic_and_openai_calls_add_to_the_hand_computed_total(self) -> None:
        tracker = CostTracker()
        # sonnet: 1000*3 + 1000*0.30 (read) + 1000*3.75 (write) + 100*15 = 8550 micro-USD.
        await tracker.record(
            priced(
                "claude-sonnet-4-6",
                Usage(prompt=3000, cached_prompt=1000, cache_write=1000, completion=100),
            )
        )
        # gpt-4o: 1000*2.5 + 1000*1.25 (cached, half price) + 200*10 = 5750.
        await tracker.record(
            priced("gpt-4o", Usage(prompt=2000, cached_prompt=1000, completion=200))
        )
        # opus cache write only: 2000*18.75 = 37500.
        await tracker.record(priced("claude-opus-4-7", Usage(prompt=2000, cache_write=2000)))
        snap = await tracker.snapshot()
        assert snap.totals.cost_usd_micros == 8550 + 5750 + 37500
        assert snap.by_model["claude-opus-4-7"].cache_write_tokens == 2000
        assert snap.by_model["gpt-4o"].cached_prompt_tokens == 1000

    async def test_rounding_is_ceil_once_per_call_never_on_the_total(self) -> None:
        tracker = CostTracker()
        # One prompt token of gpt-4o-mini is 0.15 micro-USD: each call is billed 1.
        for _ in range(1000):
            await tracker.record(priced("gpt-4o-mini", Usage(prompt=1)))
        snap = await tracker.snapshot()
        # Per call ceil: 1000, which is what the 1000 responses reported (not ceil(150.0)).
        assert snap.totals.cost_usd_micros == 1000
        assert snap.totals.avg_cost_usd_micros == 1

    async def test_average_cost_per_call_is_floor_division(self) -> None:
        tracker = CostTracker()
        for cost in (10, 10, 11):
            await tracker.record(CallRecord(model="gpt-4o", tier="strong", cost_usd_micros=cost))
        snap = await tracker.snapshot()
        assert snap.totals.avg_cost_usd_micros == 31 // 3 == 10
        assert CostTotals.from_counters({}).avg_cost_usd_micros == 0

    async def test_unpriced_calls_are_counted_not_silently_zero(self) -> None:
        tracker = CostTracker()
        usage = Usage(prompt=400, completion=100)
        assert PRICES.cost_usd_micros("llama-3-70b", usage) is None
        await tracker.record(
            CallRecord(model="llama-3-70b", tier="explicit", usage=usage, cost_known=False)
        )
        # A priced answer whose history summary ran on an unpriced model: a lower bound.
        await tracker.record(
            CallRecord(model="gpt-4o", tier="strong", cost_usd_micros=70, cost_known=False)
        )
        await tracker.record(priced("gpt-4o", Usage(prompt=1000)))
        snap = await tracker.snapshot()
        assert snap.totals.unpriced_calls == 2
        assert snap.by_model["llama-3-70b"].unpriced_calls == 1
        assert snap.by_model["llama-3-70b"].prompt_tokens == 400
        assert snap.by_tier["explicit"].unpriced_calls == 1
        assert snap.totals.cost_usd_micros == 70 + 2500

    async def test_aggregates_per_tier_tenant_and_cache_layer_with_savings_split(self) -> None:
        tracker = CostTracker()
        await tracker.record(
            CallRecord(
                model="gpt-4o-mini",
                tier="cheap",
                tenant="acme:eu",
                cost_usd_micros=100,
                routing_saved_usd_micros=1500,
            )
        )
        await tracker.record(
            CallRecord(
                model="gpt-4o",
                tier="cache",
                tenant="acme:eu",
                cache_layer="exact",
                cache_saved_usd_micros=2000,
            )
        )
        await tracker.record(
            CallRecord(
                model="gpt-4o",
                tier="cache",
                tenant="globex",
                cache_layer="semantic",
                cache_saved_usd_micros=300,
            )
        )
        await tracker.record(CallRecord(model="gpt-4o", tier="strong", cost_usd_micros=900))
        snap = await tracker.snapshot()

        assert snap.totals.saved_usd_micros == 1500 + 2000 + 300
        assert snap.totals.cache_saved_usd_micros == 2300
        assert snap.totals.routing_saved_usd_micros == 1500
        assert {k: v.calls for k, v in snap.by_tier.items()} == {
            "cache": 2,
            "cheap": 1,
            "strong": 1,
        }
        assert {k: v.calls for k, v in snap.by_cache_layer.items()} == {
            "exact": 1,
            "none": 2,
            "semantic": 1,
        }
        assert snap.by_tenant["acme:eu"].saved_usd_micros == 3500
        assert snap.by_tenant["default"].cost_usd_micros == 900
        assert snap.by_cache_layer["none"].cost_usd_micros == 1000

    async def test_estimated_usage_is_counted(self) -> None:
        tracker = CostTracker()
        await tracker.record(priced("gpt-4o", Usage(prompt=10, completion=3, estimated=True)))
        await tracker.record(priced("gpt-4o", Usage(prompt=10, completion=3)))
        assert (await tracker.snapshot()).totals.estimated_usage_calls == 1

    def test_negative_money_is_rejected(self) -> None:
        with pytest.raises(ValueError):
            CallRecord(model="gpt-4o", tier="strong", cost_usd_micros=-1)

    async def test_concurrent_records_add_exactly(self) -> None:
        tracker = CostTracker()

        async def burst(tenant: str) -> None:
            for i in range(500):
                await tracker.record(
                    CallRecord(model="gpt-4o", tier="strong", tenant=tenant, cost_usd_micros=i)
                )

        async with anyio.create_task_group() as tg:
            tg.start_soon(burst, "a")
            tg.start_soon(burst, "b")
        snap = await tracker.snapshot()
        assert snap.totals.calls == 1000
        assert snap.totals.cost_usd_micros == 2 * sum(range(500))
        assert snap.by_tenant["a"].cost_usd_micros == snap.by_tenant["b"].cost_usd_micros


class TestMonthlyEstimate:
    def tracker(self, clock: ManualClock) -> CostTracker:
        return CostTracker(window_s=3600, bucket_s=60, clock=clock)

    async def test_nothing_recorded_estimates_zero(self) -> None:
        snap = await self.tracker(ManualClock(T0)).snapshot()
        assert snap.estimated_monthly_usd_micros == 0
        assert snap.window_spend_usd_micros == 0

    async def test_young_process_scales_from_its_first_record_not_the_whole_window(self) -> None:
        clock = ManualClock(T0)
        tracker = self.tracker(clock)
        await tracker.record(CallRecord(model="gpt-4o", tier="strong", cost_usd_micros=1000))
        clock.advance(600)
        snap = await tracker.snapshot()
        # 1000 micro-USD in 10 minutes: 1000 * 2_592_000 s / 600 s.
        assert snap.estimated_monthly_usd_micros == 4_320_000
        assert snap.window_spend_usd_micros == 1000

    async def test_first_seconds_extrapolate_from_at_least_one_bucket(self) -> None:
        clock = ManualClock(T0)
        tracker = self.tracker(clock)
        await tracker.record(CallRecord(model="gpt-4o", tier="strong", cost_usd_micros=60))
        clock.advance(2)
        snap = await tracker.snapshot()
        assert snap.estimated_monthly_usd_micros == 60 * MONTH_S // 60

    async def test_steady_spend_is_a_rate_over_the_window_not_total_times_30(self) -> None:
        clock = ManualClock(T0)
        tracker = self.tracker(clock)
        for _ in range(120):  # two hours at 100 micro-USD per minute
            await tracker.record(CallRecord(model="gpt-4o", tier="strong", cost_usd_micros=100))
            clock.advance(60)
        clock.advance(-30)  # half-way through the current minute
        snap = await tracker.snapshot()
        # The window is the last 60 buckets: minutes 60..119, 6000 micro-USD over the
        # 59.5 minutes from the start of minute 60 to now.
        assert snap.window_spend_usd_micros == 6000
        assert snap.estimated_monthly_usd_micros == 6000 * MONTH_S * 1000 // 3_570_000
        assert snap.totals.cost_usd_micros == 12_000
        assert snap.estimated_monthly_usd_micros != 12_000 * 30
        # Close to the true rate of 100/minute over a 30-day month.
        assert abs(snap.estimated_monthly_usd_micros - 100 * 43_200) < 100 * 43_200 // 50

    async def test_spend_leaves_the_window_and_old_spend_counts_over_the_full_window(
        self,
    ) -> None:
        clock = ManualClock(T0)
        tracker = self.tracker(clock)
        await tracker.record(CallRecord(model="gpt-4o", tier="strong", cost_usd_micros=3600))
        clock.advance(7200)
        await tracker.record(CallRecord(model="gpt-4o", tier="strong", cost_usd_micros=720))
        clock.advance(59 * 60)  # the second record now sits in the window's oldest bucket
        snap = await tracker.snapshot()
        assert snap.window_spend_usd_micros == 720
        # The first record is long gone; 720 over the window's span from the start of its
        # oldest bucket to now (59 whole minutes, now being on a bucket boundary).
        assert snap.estimated_monthly_usd_micros == 720 * MONTH_S // 3540
        clock.advance(60)
        assert (await tracker.snapshot()).estimated_monthly_usd_micros == 0

    @pytest.mark.parametrize(("window_s", "bucket_s"), [(0, 60), (90, 60), (60, 0), (30, 60)])
    def test_window_must_be_whole_buckets(self, window_s: int, bucket_s: int) -> None:
        with pytest.raises(ValueError):
            CostTracker(window_s=window_s, bucket_s=bucket_s)
