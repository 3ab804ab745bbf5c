"""Estimated holds learn from answers under the name the caller asked for.

Real providers report dated snapshots (``gpt-4o-mini-2024-07-18`` for ``gpt-4o-mini``) and a
registry model may have an ``upstream_name``: the answers must still size the holds that are
looked up by the requested name (found by ``python -m bench faults``: the tight budget served
11 requests instead of ~50).
"""

from __future__ import annotations

import pytest

from agent.core.call import ProviderCall
from agent.core.clock import StageClock
from agent.testing import ManualClock, ScriptedClient
from agent.types import LLMRequest, LLMResponse, Message, Usage
from metrics.budget import BudgetGuard
from metrics.budget_ledger import MemoryBudgetLedger
from metrics.budget_windows import BudgetCaps
from metrics.pricing import PriceTable

pytestmark = pytest.mark.anyio

MODEL = "gpt-4o-mini"
CAP_TOKENS = 16_384


class Owner:
    tenant = "acme"


def dated_answer(i: int) -> LLMResponse:
    return LLMResponse(
        text=f"answer {i}",
        model="gpt-4o-mini-2024-07-18",
        usage=Usage(prompt=10, completion=120),
        provider="openai",
    )


async def test_holds_shrink_after_answers_reported_under_a_dated_model_name() -> None:
    guard = BudgetGuard(
        MemoryBudgetLedger(),
        global_caps=BudgetCaps(hourly_usd_micros=1_000_000),
        clock=ManualClock(1_700_000_000.0),
        hold_mode="estimated",
    )
    llm = ScriptedClient("openai", [dated_answer(i) for i in range(25)])
    call = ProviderCall(llm=llm, costs=PriceTable(), budget=guard)
    request = LLMRequest(model=MODEL, messages=(Message("user", "hello"),))
    held: list[int] = []
    for i in range(25):
        async with call.hold(
            Owner(),
            request,
            models=(),
            completion_tokens=CAP_TOKENS,
            clock=StageClock(),
            hold_id=f"r{i}",
        ) as billing:
            assert billing.reservation is not None
            held.append(billing.reservation.reserved_usd_micros)
            await call.generate(billing, request)
            billing.charge()
    assert held[0] > 9_000  # no samples yet: the whole answer cap is held
    assert held[-1] < 100  # 120 output tokens at gpt-4o-mini's price, plus the prompt
