"""The bill of every provider path, bucket by bucket: the real clients against the simulator.

Four paths (OpenAI JSON, OpenAI SSE with ``stream_options.include_usage``, Anthropic JSON,
Anthropic SSE with ``message_start`` + ``message_delta`` usage) x four token buckets (plain
input, cache-read input, cache-write input, output). Each call's `Usage` must equal what the
simulator counted for it, and its price must equal the ceil formula worked out here from the
price table's entries. Then the same through `Agent` (``Done`` and ``ChatResponse``), and
streams cut mid-way, which are billed from the provider's usage when it sent one, else from
our tokenizer's count flagged ``estimated``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp
import pytest

from agent.http import create_http_session
from agent.pipeline import (
    ChatResponse,
    Done,
    StreamOutcome,
)
from agent.types import Usage
from tests.agent.pipeline.support import RecordingBudget
from tests.support.billing import (
    FIRST_QUESTION,
    MODEL,
    PATHS,
    SECOND_QUESTION,
    Provider,
    SimMeter,
    ask,
    call,
    collect,
    hand_priced,
    hand_priced_usage,
    llm_request,
    make_agent,
    make_client,
    price_of,
    priced,
)
from tests.support.simulator import RunningSimulator


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with create_http_session(pool_size=8, connect_timeout_s=2.0) as http:
        yield http


class TestClientUsageAndPrice:
    @pytest.mark.anyio
    @pytest.mark.parametrize(("provider", "stream"), PATHS)
    async def test_usage_matches_the_simulator_and_prices_every_bucket(
        self,
        sim: RunningSimulator,
        session: aiohttp.ClientSession,
        provider: Provider,
        stream: bool,
    ) -> None:
        client = make_client(provider, sim, session, output_tokens="9")
        model = MODEL[provider]
        meter = SimMeter(sim)
        first = await call(client, llm_request(provider, FIRST_QUESTION), stream=stream)
        first_counted = meter.delta()
        second = await call(client, llm_request(provider, SECOND_QUESTION), stream=stream)
        second_counted = meter.delta()

        # The provider's own counts, not our tokenizer's (for SSE: include_usage was sent and
        # message_start/message_delta usage was combined).
        assert first == first_counted.as_usage()
        assert second == second_counted.as_usage()
        assert first.completion == second.completion == 9
        for usage in (first, second):
            assert usage.prompt - usage.cached_prompt - usage.cache_write > 0  # plain input

        if provider == "openai":
            # No cache-write bucket at OpenAI; the second call reads the cached system prefix.
            assert first.cache_write == second.cache_write == 0
            assert first.cached_prompt == 0 and second.cached_prompt >= 1024
        else:
            # Written once by the first call, read by the second; never also plain input.
            assert first.cache_write >= 1024 and first.cached_prompt == 0
            assert second.cached_prompt == first.cache_write and second.cache_write == 0

        for usage in (first, second):
            assert priced(model, usage) == hand_priced_usage(model, usage) > 0

        price = price_of(model)
        reader = second
        plain = reader.prompt - reader.cached_prompt
        expected = hand_priced(
            model, plain=plain, cached=reader.cached_prompt, written=0, output=reader.completion
        )
        assert priced(model, reader) == expected
        # Cached tokens at the cached price: cheaper than the same call with none cached.
        full = Usage(prompt=reader.prompt, completion=reader.completion)
        assert price.cached_input < price.input and priced(model, reader) < priced(model, full)

        if provider == "anthropic":
            writer = first
            plain = writer.prompt - writer.cache_write
            expected = hand_priced(
                model, plain=plain, cached=0, written=writer.cache_write, output=writer.completion
            )
            assert priced(model, writer) == expected
            # At the write price (125% of input), and only once: counting the written tokens
            # as plain input as well would add them a second time.
            twice = hand_priced(
                model,
                plain=writer.prompt,
                cached=0,
                written=writer.cache_write,
                output=writer.completion,
            )
            assert price.cache_write > price.input and priced(model, writer) < twice


class TestAgentBill:
    @pytest.mark.anyio
    @pytest.mark.parametrize(("provider", "stream"), PATHS)
    async def test_bill_equals_the_priced_provider_usage(
        self,
        sim: RunningSimulator,
        session: aiohttp.ClientSession,
        provider: Provider,
        stream: bool,
    ) -> None:
        budget = RecordingBudget()
        agent = make_agent(make_client(provider, sim, session), provider, budget=budget)
        model = MODEL[provider]
        meter = SimMeter(sim)
        bills: list[tuple[Usage, int]] = []
        for question in (FIRST_QUESTION, SECOND_QUESTION):
            if stream:
                outcome = StreamOutcome()
                *_, done = await collect(agent, ask(provider, question), outcome)
                assert isinstance(done, Done)
                assert outcome.status == "completed"
                assert (outcome.usage, outcome.cost_usd_micros) == (
                    done.usage,
                    done.cost_usd_micros,
                )
                usage, cost, known = done.usage, done.cost_usd_micros, done.cost_known
            else:
                response = await agent.answer(ask(provider, question))
                assert isinstance(response, ChatResponse) and response.cache is None
                usage, cost, known = response.usage, response.cost_usd_micros, response.cost_known
            assert known and usage == meter.delta().as_usage()
            assert cost == hand_priced_usage(model, usage) > 0
            bills.append((usage, cost))

        (first, _), (second, _) = bills
        assert second.cached_prompt >= 1024
        if provider == "anthropic":
            assert first.cache_write >= 1024 and second.cache_write == 0
        else:
            assert first.cache_write == second.cache_write == 0
        # Each request settled its budget hold once, with exactly the billed amount.
        assert budget.settled == [cost for _, cost in bills]
