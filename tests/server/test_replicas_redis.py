"""Two gateway replicas on one real Redis: one budget, one rate limit, one set of totals.

Both apps run on uvicorn in the test's loop with the same ``key_prefix`` (unique per test), so
they share the budget ledger, the rate-limit logs, the cost aggregates and the answer cache,
exactly as two processes behind a load balancer would.
"""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import aiohttp
import anyio
import msgspec
import pytest

from server.config import load_settings
from server.settings import AuthSettings, Settings
from tests.support.cost_http import ADMIN_KEY, clear_of_hour_boundary, worst_case_usd_micros
from tests.support.gateway import run_gateway
from tests.support.redis_server import RedisServer

pytestmark = pytest.mark.anyio

KEY = "acme-shared-key-0123456789"

# Topics for distinct questions; each gets a ticket number so no two requests are alike.
TECHNICAL_TOPICS = (
    "Why does the API return a stack trace when I upload a file",
    "How do I configure the webhook endpoint for payment events",
    "My SDK integration keeps hitting a timeout, how do I debug it",
    "The OAuth callback fails with an error after deploy, what should I check",
)
SUPPORT_QUESTIONS = (
    "How do I reset my password?",
    "What is your refund policy?",
    "Do you ship to Canada?",
    "Can I pay with PayPal?",
    "How do I cancel my subscription?",
)
# Shared totals: every field of /stats except this replica's own latency and error samples
# and the time-dependent ones.
PER_REPLICA = frozenset(
    {
        "generated_at",
        "latency_ms",
        "ttft_ms",
        "overhead_ms",
        "errors",
        "estimated_monthly_usd_micros",
        "spend_series",
    }
)


def replica_settings(redis: RedisServer, prefix: str, **env: str) -> Settings:
    """An instant simulated provider on the shared Redis. Generous Redis timeouts and a
    budget that fails closed, so a slow CI box cannot turn into an unguarded admission."""
    return load_settings(
        {
            "FRUGAL_SIMULATED_CHEAP_TTFT_MS": "0",
            "FRUGAL_SIMULATED_STRONG_TTFT_MS": "0",
            "FRUGAL_SIMULATED_CHEAP_TOKENS_PER_S": "100000",
            "FRUGAL_SIMULATED_STRONG_TOKENS_PER_S": "100000",
            "FRUGAL_REDIS_URL": redis.url,
            "FRUGAL_REDIS_KEY_PREFIX": prefix,
            "FRUGAL_REDIS_TIMEOUT_S": "2",
            "FRUGAL_BUDGET_FAIL_OPEN": "false",
            "FRUGAL_SERVER_ADMIN_KEY": ADMIN_KEY,
            **env,
        }
    )


@asynccontextmanager
async def two_replicas(settings: Settings) -> AsyncIterator[tuple[str, str]]:
    """Base URLs of two apps built from the same settings (so the same Redis namespace)."""
    async with run_gateway(settings) as first, run_gateway(settings) as second:
        yield first.base_url, second.base_url


@pytest.fixture
def prefix() -> str:
    return f"replicas-{uuid.uuid4().hex[:10]}:"


@dataclass(frozen=True)
class Reply:
    status: int
    body: dict[str, Any]
    headers: Mapping[str, str]

    @property
    def code(self) -> str | None:
        return self.body.get("error", {}).get("code") if self.status != 200 else None


async def post_chat(
    http: aiohttp.ClientSession,
    base_url: str,
    message: str,
    *,
    headers: Mapping[str, str] | None = None,
    **fields: str,
) -> Reply:
    async with http.post(
        f"{base_url}/chat", json={"message": message, **fields}, headers=headers
    ) as response:
        return Reply(response.status, await response.json(), response.headers)


async def stats_of(http: aiohttp.ClientSession, base_url: str) -> dict[str, Any]:
    # The admin key: with auth on, /stats needs it.
    headers = {"Authorization": f"Bearer {ADMIN_KEY}"}
    async with http.get(f"{base_url}/stats", headers=headers) as response:
        body: dict[str, Any] = await response.json()
        assert response.status == 200, body
    return body


async def both_stats(
    http: aiohttp.ClientSession, urls: tuple[str, str]
) -> tuple[dict[str, Any], dict[str, Any]]:
    first = await stats_of(http, urls[0])
    second = await stats_of(http, urls[1])
    return first, second


def shared_part(stats: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in stats.items() if k not in PER_REPLICA}


async def fire(
    http: aiohttp.ClientSession,
    urls: tuple[str, str],
    messages: list[str],
    *,
    headers: Mapping[str, str] | None = None,
    **fields: str,
) -> list[Reply]:
    """POST every message to ``/chat`` at once, alternating between the replicas."""
    replies: list[Reply] = []

    async def one(i: int, message: str) -> None:
        replies.append(await post_chat(http, urls[i % 2], message, headers=headers, **fields))

    async with anyio.create_task_group() as group:
        for i, message in enumerate(messages):
            group.start_soon(one, i, message)
    return replies


class TestSharedBudget:
    async def test_concurrent_requests_on_two_replicas_never_spend_past_the_cap(
        self, redis_server: RedisServer, prefix: str, http: aiohttp.ClientSession
    ) -> None:
        def wave(w: int) -> list[str]:
            topics = TECHNICAL_TOPICS
            return [f"{topics[i % len(topics)]} (ticket {w}-{i})?" for i in range(40)]

        worst = max(worst_case_usd_micros(q) for q in wave(99))
        # Room for three worst cases at once; strong answers (~1,800 each) settle far below
        # their reservation, so waves of 40 concurrent requests fill the cap in ~10 waves.
        cap = 3 * worst
        settings = replica_settings(
            redis_server, prefix, FRUGAL_BUDGET_GLOBAL_HOURLY_USD_MICROS=str(cap)
        )
        replies: list[Reply] = []
        exhausted = False
        await clear_of_hour_boundary()
        async with two_replicas(settings) as urls:
            for w in range(25):
                answered = await fire(http, urls, wave(w), cache="no-cache")
                replies += answered
                if all(r.status != 200 for r in answered):
                    exhausted = True  # nothing fits any more: the budget is spent
                    break
            first, second = await both_stats(http, urls)
        assert exhausted
        answers = [r.body for r in replies if r.status == 200]
        refusals = [r for r in replies if r.status != 200]
        spent = sum(a["cost_usd_micros"] for a in answers)
        assert all(r.code == "budget_exceeded" and r.status == 503 for r in refusals)
        assert refusals and len(answers) >= 5
        assert all(a["route"]["tier"] == "strong" for a in answers)
        assert all(1 <= int(r.headers["Retry-After"]) <= 3600 for r in refusals)
        # Never past the cap, and refused only once the worst case no longer fit.
        assert spent <= cap < spent + worst
        assert shared_part(first) == shared_part(second)
        assert first["calls"] == len(answers)
        assert first["cost_usd_micros"] == spent
        [window] = first["budget"]
        assert (window["spent_usd_micros"], window["reserved_usd_micros"]) == (spent, 0)
        assert window["cap_usd_micros"] == cap
        # Each replica counts the refusals it sent.
        assert first["errors"]["policy"] + second["errors"]["policy"] == len(refusals)


class TestSharedRateLimit:
    async def test_one_key_gets_exactly_n_requests_across_both_replicas(
        self, redis_server: RedisServer, prefix: str, http: aiohttp.ClientSession
    ) -> None:
        limit = 5
        settings = msgspec.structs.replace(
            replica_settings(redis_server, prefix, FRUGAL_LIMITS_REQUESTS_PER_WINDOW=str(limit)),
            auth=AuthSettings(api_keys=(f"acme:{KEY}",)),
        )
        messages = [f"{SUPPORT_QUESTIONS[i % 5]} (order {i})" for i in range(3 * limit)]
        async with two_replicas(settings) as urls:
            replies = await fire(http, urls, messages, headers={"Authorization": f"Bearer {KEY}"})
            first, second = await both_stats(http, urls)
        admitted = [r for r in replies if r.status == 200]
        limited = [r for r in replies if r.status != 200]
        assert len(admitted) == limit
        assert {(r.status, r.code) for r in limited} == {(429, "rate_limited")}
        # One shared window: each admission saw the one before it, whichever replica took it.
        remaining = sorted(int(r.headers["X-RateLimit-Remaining-Requests"]) for r in admitted)
        assert remaining == list(range(limit))
        assert all(r.headers["X-RateLimit-Remaining-Requests"] == "0" for r in limited)
        assert all(int(r.headers["Retry-After"]) >= 1 for r in limited)
        assert first["calls"] == second["calls"] == limit
        assert first["errors"]["policy"] + second["errors"]["policy"] == 2 * limit


class TestSharedTotals:
    async def test_both_replicas_report_the_same_totals_after_mixed_traffic(
        self, redis_server: RedisServer, prefix: str, http: aiohttp.ClientSession
    ) -> None:
        settings = replica_settings(redis_server, prefix)
        async with two_replicas(settings) as urls:
            # Asked on one replica, then again on the other: the shared cache answers.
            first_round = await fire(http, urls, list(SUPPORT_QUESTIONS))
            second_round = await fire(http, (urls[1], urls[0]), list(SUPPORT_QUESTIONS))
            technical = await fire(http, urls, [f"{t}?" for t in TECHNICAL_TOPICS])
            streamed = []
            for i, question in enumerate(
                ("Is there a student discount?", "Do you ship to Canada?")
            ):
                streamed.append(await stream_done(http, urls[i % 2], question))
            first, second = await both_stats(http, urls)
        answers = [r.body for r in first_round + second_round + technical if r.status == 200]
        assert len(answers) == 2 * len(SUPPORT_QUESTIONS) + len(TECHNICAL_TOPICS)
        assert all(r.body["cache"] == "exact" for r in second_round)
        everything = answers + streamed
        assert shared_part(first) == shared_part(second)
        assert first["calls"] == len(everything)
        cost = sum(a["cost_usd_micros"] for a in everything)
        assert first["cost_usd_micros"] == cost
        assert first["saved_usd_micros"] == sum(a["saved_usd_micros"] for a in everything)
        assert first["tokens"]["output"] == sum(a["usage"]["completion"] for a in everything)
        assert first["tokens"]["input"] == sum(a["usage"]["prompt"] for a in everything)
        layers = Counter(a["cache"] for a in everything)
        assert first["cache"]["exact_hits"] == layers["exact"] >= len(SUPPORT_QUESTIONS) + 1
        assert first["cache"]["semantic_hits"] == layers["semantic"]
        assert first["routes"]["strong"] == len(TECHNICAL_TOPICS)
        assert sum(point["usd_micros"] for point in first["spend_series"]) == cost
        assert sum(point["usd_micros"] for point in second["spend_series"]) == cost


async def stream_done(http: aiohttp.ClientSession, base_url: str, question: str) -> dict[str, Any]:
    """The ``done`` event of a ``/chat/stream`` answer (with ``route`` from ``meta``)."""
    async with http.get(f"{base_url}/chat/stream", params={"message": question}) as response:
        text = await response.text()
        assert response.status == 200, text
    events = {}
    for block in text.split("\n\n"):
        lines = dict(line.split(": ", 1) for line in block.splitlines() if ": " in line)
        if "event" in lines:
            events[lines["event"]] = msgspec.json.decode(lines["data"])
    done: dict[str, Any] = events["done"]
    return {**done, "route": events["meta"]["route"]}
