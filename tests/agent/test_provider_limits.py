"""Outbound limits: callers wait their turn (bounded), and the client wrapper paces a provider."""

from __future__ import annotations

import time

import anyio
import pytest

from agent.base import LLMClient
from agent.errors import RateLimited
from agent.provider_limits import ProviderRateLimiter, RateLimitedClient, estimate_request_tokens
from agent.testing import Chunks, ManualClock, ScriptedClient
from agent.tokens import count_message_tokens
from agent.types import LLMRequest, Message

pytestmark = pytest.mark.anyio


def _request(text: str = "hello there friend", max_tokens: int | None = 500) -> LLMRequest:
    return LLMRequest(model="gpt-4o-mini", messages=(Message("user", text),), max_tokens=max_tokens)


class RecordedSleeps:
    """A sleep that records what it was asked and returns at once, leaving the clock alone."""

    def __init__(self) -> None:
        self.waits: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)


class TestProviderRateLimiter:
    async def test_paces_requests_after_the_burst(self) -> None:
        clock = ManualClock()
        limiter = ProviderRateLimiter(
            "openai", requests_per_minute=300, clock=clock, sleep=clock.sleep
        )
        for _ in range(10):
            await limiter.acquire(0)
        # 5 per second: a one-second burst of 5 goes at once, then one every 0.2 s.
        assert clock.sleeps == pytest.approx([0.2] * 5)
        assert clock.now == pytest.approx(1.0)

    async def test_refuses_at_once_when_the_wait_would_exceed_the_bound(self) -> None:
        clock = ManualClock()
        sleeps = RecordedSleeps()
        limiter = ProviderRateLimiter(
            "openai", requests_per_minute=300, max_wait_s=0.3, clock=clock, sleep=sleeps
        )
        for _ in range(6):
            await limiter.acquire(0)
        assert sleeps.waits == pytest.approx([0.2])
        with pytest.raises(RateLimited) as caught:
            await limiter.acquire(0)
        assert caught.value.provider == "openai"
        assert caught.value.status is None
        assert caught.value.retry_after == pytest.approx(0.4)
        # The refused call was not counted: 0.4 s later there is room without waiting.
        clock.advance(0.4)
        await limiter.acquire(0)
        assert sleeps.waits == pytest.approx([0.2])

    async def test_token_budget_paces_and_big_calls_leave_a_debt(self) -> None:
        clock = ManualClock()
        limiter = ProviderRateLimiter(
            "anthropic", tokens_per_minute=6000, clock=clock, sleep=clock.sleep
        )
        await limiter.acquire(100)  # a full one-second bucket of 100 tokens
        await limiter.acquire(50)
        assert clock.sleeps == pytest.approx([0.5])
        clock.advance(10)
        await limiter.acquire(400)  # larger than the bucket: waits only for a full one
        assert clock.sleeps == pytest.approx([0.5])
        assert limiter.available_tokens == pytest.approx(-300)
        await limiter.acquire(10)  # pays the 300-token debt first
        assert clock.sleeps == pytest.approx([0.5, 3.1])

    async def test_a_cancelled_waiter_gives_its_turn_back(self) -> None:
        waits: list[float] = []

        async def sleep(seconds: float) -> None:
            waits.append(seconds)
            await anyio.sleep_forever()

        clock = ManualClock()
        limiter = ProviderRateLimiter("openai", requests_per_minute=60, clock=clock, sleep=sleep)
        await limiter.acquire(0)
        for _ in range(2):
            with anyio.move_on_after(0.01):
                await limiter.acquire(0)
        # Without the refund the second waiter would have been queued behind the first.
        assert waits == pytest.approx([1.0, 1.0])

    async def test_hold_off_delays_every_caller(self) -> None:
        clock = ManualClock()
        limiter = ProviderRateLimiter("openai", max_wait_s=5, clock=clock, sleep=clock.sleep)
        limiter.hold_off(2.5)
        await limiter.acquire(0)
        assert clock.sleeps == pytest.approx([2.5])
        await limiter.acquire(0)
        assert clock.sleeps == pytest.approx([2.5])

    @pytest.mark.parametrize(
        "kwargs",
        [
            {"requests_per_minute": 0},
            {"tokens_per_minute": -5},
            {"max_wait_s": -1.0},
            {"burst_s": 0.0},
        ],
    )
    def test_rejects_nonsense(self, kwargs: dict[str, float]) -> None:
        with pytest.raises(ValueError):
            ProviderRateLimiter("openai", **kwargs)  # type: ignore[arg-type]


class TestRateLimitedClient:
    async def test_is_an_llm_client_named_after_its_provider(self) -> None:
        client = RateLimitedClient(ScriptedClient("openai"), ProviderRateLimiter("openai"))
        assert isinstance(client, LLMClient)
        assert client.name == "openai"

    async def test_ten_calls_at_five_per_second_take_about_a_second(self) -> None:
        inner = ScriptedClient("openai", default="ok")
        client = RateLimitedClient(inner, ProviderRateLimiter("openai", requests_per_minute=300))
        started = time.monotonic()
        async with anyio.create_task_group() as tg:
            for _ in range(10):
                tg.start_soon(client.generate, _request())
        elapsed = time.monotonic() - started
        assert inner.call_count == 10
        assert 0.9 <= elapsed < 3.0

    async def test_reserves_the_estimate_then_settles_to_the_reported_usage(self) -> None:
        clock = ManualClock()
        limiter = ProviderRateLimiter(
            "openai", tokens_per_minute=60_000, clock=clock, sleep=clock.sleep
        )
        request = _request(max_tokens=500)
        prompt = count_message_tokens(request.messages, request.model)
        assert estimate_request_tokens(request) == prompt + 500
        assert estimate_request_tokens(_request(max_tokens=None), default_max_tokens=7) == (
            prompt + 7
        )
        client = RateLimitedClient(ScriptedClient("openai", default="two words"), limiter)
        response = await client.generate(request)
        # ScriptedClient bills 3 prompt words and 2 completion words.
        assert response.usage.total == 5
        assert limiter.available_tokens == pytest.approx(1000 - 5)

    async def test_a_provider_429_holds_off_later_calls(self) -> None:
        clock = ManualClock()
        limiter = ProviderRateLimiter("openai", max_wait_s=1.0, clock=clock, sleep=clock.sleep)
        inner = ScriptedClient(
            "openai", [RateLimited("slow down", provider="openai", retry_after=2.0)], default="ok"
        )
        client = RateLimitedClient(inner, limiter, count_tokens=lambda _: 0)
        with pytest.raises(RateLimited) as upstream:
            await client.generate(_request())
        assert upstream.value.status == 429
        with pytest.raises(RateLimited) as ours:
            await client.generate(_request())
        assert ours.value.status is None
        assert ours.value.retry_after == pytest.approx(2.0)
        assert inner.call_count == 1  # the provider was spared the second call
        clock.advance(2.0)
        assert (await client.generate(_request())).text == "ok"

    async def test_streams_pass_through_and_settle(self) -> None:
        clock = ManualClock()
        limiter = ProviderRateLimiter(
            "openai", tokens_per_minute=60_000, clock=clock, sleep=clock.sleep
        )
        inner = ScriptedClient("openai", default=Chunks(("a", " b", " c")))
        client = RateLimitedClient(inner, limiter, count_tokens=lambda _: 400)
        chunks = [chunk async for chunk in client.stream(_request())]
        assert [c.text for c in chunks] == ["a", " b", " c", ""]
        usage = chunks[-1].usage
        assert usage is not None
        assert limiter.available_tokens == pytest.approx(1000 - usage.total)
        assert inner.calls[0].ended == "answered"

    async def test_closing_the_stream_early_closes_the_provider_stream(self) -> None:
        inner = ScriptedClient("openai", default=Chunks(("a", " b", " c")))
        client = RateLimitedClient(inner, ProviderRateLimiter("openai", requests_per_minute=60))
        stream = client.stream(_request())
        first = await anext(aiter(stream))
        assert first.text == "a"
        await stream.aclose()  # type: ignore[attr-defined]
        assert inner.calls[0].ended == "closed"
