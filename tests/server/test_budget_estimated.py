"""A tight hourly budget over HTTP: worst-case holds admit few requests, estimated holds ~50.

The issue's figure: a 12,000 micro-USD hourly cap and gpt-4o-mini requests of ~1,000 prompt
tokens and ~120 output tokens (~220 micro-USD) that send no ``max_tokens``, so a worst-case
hold assumes the model's whole answer cap. The capped tenant is ``acme``; ``beta`` (uncapped)
warms the per-model output window first, as other traffic on a replica would.
"""

from __future__ import annotations

from typing import Any

import aiohttp
import pytest

from agent.tokens import count_message_tokens
from agent.types import Message
from server.config import load_settings
from simulator import SimConfig
from tests.support.cost_http import (
    ACME_KEY,
    BETA_KEY,
    bearer,
    clear_of_hour_boundary,
    stats_of,
    with_keys,
)
from tests.support.gateway import run_gateway
from tests.support.simulator import run_simulator

pytestmark = pytest.mark.anyio

CAP = 12_000
MODEL = "gpt-4o-mini"
WARM_UP = 20  # what the estimate needs before it replaces the worst case


def prompt(i: int) -> list[dict[str, str]]:
    # ~1,000 tokens, distinct per request so no cache could answer.
    words = " ".join(f"item{i}x{j}" for j in range(200))
    return [{"role": "user", "content": f"Ticket {i}: summarise these log lines: {words}"}]


async def serve_until_refused(
    http: aiohttp.ClientSession, base: str, *, start: int, key: str, limit: int
) -> tuple[int, list[dict[str, Any]]]:
    served: list[dict[str, Any]] = []
    for i in range(start, start + limit):
        async with http.post(
            f"{base}/v1/chat/completions",
            json={"model": MODEL, "messages": prompt(i)},
            headers=bearer(key),
        ) as response:
            body = await response.json()
            if response.status != 200:
                assert response.status == 503 and body["error"]["code"] == "budget_exceeded"
                return len(served), served
            served.append(body)
    return len(served), served


async def run_mode(http: aiohttp.ClientSession, mode: str) -> tuple[int, dict[str, Any]]:
    async with run_simulator(SimConfig(output_tokens=120)) as sim:
        settings = with_keys(
            load_settings(
                {
                    "OPENAI_BASE_URL": f"{sim.base_url}/v1",
                    "OPENAI_API_KEY": "k",
                    "FRUGAL_CACHE_EXACT_ENABLED": "false",
                    "FRUGAL_CACHE_SEMANTIC_ENABLED": "false",
                    "FRUGAL_BUDGET_TENANT_OVERRIDES": f"acme={CAP}/",
                    "FRUGAL_BUDGET_HOLD_MODE": mode,
                }
            )
        )
        await clear_of_hour_boundary(margin_s=120.0)
        async with run_gateway(settings) as running:
            base = running.base_url
            warmed, _ = await serve_until_refused(http, base, start=0, key=BETA_KEY, limit=WARM_UP)
            assert warmed == WARM_UP
            served, answers = await serve_until_refused(
                http, base, start=1000, key=ACME_KEY, limit=200
            )
            stats = await stats_of(http, base)
    [window] = [w for w in stats["budget"] if w["scope"] == "tenant:acme"]
    assert all(a["usage"]["completion_tokens"] == 120 for a in answers)
    return served, window


async def test_estimated_holds_serve_a_tight_budget_without_overspending(
    http: aiohttp.ClientSession,
) -> None:
    tokens = count_message_tokens((Message("user", prompt(1000)[0]["content"]),), MODEL)
    assert 900 <= tokens <= 1_100
    worst_served, worst_window = await run_mode(http, "worst_case")
    estimated_served, window = await run_mode(http, "estimated")
    print(
        f"\nserved before the first refusal under a {CAP} micro-USD hourly cap: "
        f"worst_case={worst_served}, estimated={estimated_served} "
        f"(spent {worst_window['spent_usd_micros']} / {window['spent_usd_micros']})"
    )
    assert worst_served < 15
    assert estimated_served >= 45
    for w in (worst_window, window):
        assert w["cap_usd_micros"] == CAP
        assert w["spent_usd_micros"] <= CAP
        assert w["reserved_usd_micros"] == 0
