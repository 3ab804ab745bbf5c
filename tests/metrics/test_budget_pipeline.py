"""BudgetGuard as the Answer pipeline's BudgetHook: holds are settled on every path."""

from __future__ import annotations

from contextlib import aclosing

import pytest

from agent.errors import UpstreamError
from agent.pipeline import StreamOutcome, Token
from agent.simulation import Pace
from agent.testing import ManualClock, ScriptedClient
from agent.tools import ToolRegistry
from metrics.budget import BudgetGuard
from metrics.budget_errors import BudgetExhausted
from metrics.budget_ledger import MemoryBudgetLedger
from metrics.budget_windows import BudgetCaps
from tests.agent.pipeline.support import ask, build_registry, fast_sim, make_agent
from tests.metrics.test_budget import NOON

pytestmark = pytest.mark.anyio

QUESTIONS = [f"How do I track my order number {n}?" for n in range(40)]


@pytest.fixture
async def registry() -> ToolRegistry:
    return await build_registry()


def budget(cap: int) -> BudgetGuard:
    return BudgetGuard(
        MemoryBudgetLedger(),
        clock=ManualClock(NOON),
        global_caps=BudgetCaps(hourly_usd_micros=cap),
        tenant_caps=BudgetCaps(daily_usd_micros=cap),
    )


async def test_answers_until_the_cap_then_refuses_and_spent_adds_up(
    registry: ToolRegistry,
) -> None:
    guard = budget(5_000)
    agent = make_agent(registry, budget=guard, exact=False, semantic=False)
    costs: list[int] = []
    with pytest.raises(BudgetExhausted) as caught:
        for question in QUESTIONS:
            costs.append((await agent.answer(ask(question, max_tokens=200))).cost_usd_micros)
    assert len(costs) > 1 and caught.value.retry_after_s > 0
    usage = await guard.usage(tenants=["default"])
    assert [(u.spent_usd_micros, u.reserved_usd_micros) for u in usage] == [(sum(costs), 0)] * 2


async def test_a_failed_call_releases_its_hold(registry: ToolRegistry) -> None:
    guard = budget(1_000_000)
    failing = ScriptedClient("scripted", default=UpstreamError("boom"))
    agent = make_agent(registry, llm=failing, budget=guard, exact=False, semantic=False)
    with pytest.raises(UpstreamError):
        await agent.answer(ask(QUESTIONS[0]))
    assert failing.call_count >= 1
    [hour, _] = await guard.usage(tenants=["default"])
    assert (hour.spent_usd_micros, hour.reserved_usd_micros) == (0, 0)


async def test_a_stream_closed_early_settles_what_it_produced(registry: ToolRegistry) -> None:
    guard = budget(1_000_000)
    agent = make_agent(registry, llm=fast_sim(Pace(0.0, 50.0)), budget=guard, exact=False)
    outcome = StreamOutcome()
    async with aclosing(agent.stream(ask(QUESTIONS[0]), outcome=outcome)) as events:
        async for event in events:
            if isinstance(event, Token):
                break
    [hour, day] = await guard.usage(tenants=["default"])
    assert outcome.status == "cancelled" and outcome.cost_usd_micros > 0
    assert (hour.spent_usd_micros, hour.reserved_usd_micros) == (outcome.cost_usd_micros, 0)
    assert day.spent_usd_micros == outcome.cost_usd_micros
