"""Streams cut mid-way, per provider: billed from the provider's usage when it sent one, else
from our tokenizer's count flagged ``estimated`` (see test_cost_provider_paths.py)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp
import anyio
import pytest

from agent.http import create_http_session
from agent.pipeline import (
    Error,
    StreamOutcome,
)
from agent.tokens import count_text_tokens
from agent.types import Usage
from tests.agent.pipeline.support import RecordingBudget
from tests.support.billing import (
    ANTHROPIC_MODEL,
    FIRST_QUESTION,
    OPENAI_MODEL,
    SECOND_QUESTION,
    SimMeter,
    ask,
    estimated_usage,
    hand_priced_usage,
    make_agent,
    make_client,
    priced,
    stream_until,
)
from tests.support.simulator import RunningSimulator


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with create_http_session(pool_size=8, connect_timeout_s=2.0) as http:
        yield http


class TestCutStreams:
    # OpenAI has no case (a): with include_usage its only usage is a chunk with no choices,
    # sent after the finish_reason chunk and right before [DONE], so a stream cut while text
    # is flowing never carried provider usage and is always billed from our tokenizer.

    @pytest.mark.anyio
    async def test_openai_disconnect_is_billed_from_a_tiktoken_count(
        self, sim: RunningSimulator, session: aiohttp.ClientSession
    ) -> None:
        client = make_client("openai", sim, session, fault="disconnect", output_tokens="40")
        agent = make_agent(client, "openai")
        meter = SimMeter(sim)
        outcome = StreamOutcome()
        text, last = await stream_until(
            agent, ask("openai", FIRST_QUESTION), outcome, stop_after=None
        )
        assert isinstance(last, Error) and last.code == "stream_interrupted"
        assert text and outcome.status == "failed"
        usage = estimated_usage("openai", FIRST_QUESTION, text)
        assert outcome.usage == usage and usage.completion > 0
        # Our count agrees with what the simulator took in and sent out.
        counted = meter.delta()
        assert (usage.prompt, usage.completion) == (counted.prompt, counted.completion)
        assert outcome.cost_usd_micros == hand_priced_usage(OPENAI_MODEL, usage) > 0

    @pytest.mark.anyio
    async def test_openai_consumer_closing_is_billed_from_a_tiktoken_count(
        self, sim: RunningSimulator, session: aiohttp.ClientSession
    ) -> None:
        client = make_client("openai", sim, session, output_tokens="400", tokens_per_s="200")
        budget = RecordingBudget()
        agent = make_agent(client, "openai", budget=budget)
        outcome = StreamOutcome()
        text, _ = await stream_until(agent, ask("openai", FIRST_QUESTION), outcome, stop_after=3)
        assert outcome.status == "cancelled"
        usage = estimated_usage("openai", FIRST_QUESTION, text)
        assert outcome.usage == usage and 0 < usage.completion < 400
        assert outcome.cost_usd_micros == hand_priced_usage(OPENAI_MODEL, usage) > 0
        assert budget.settled == [outcome.cost_usd_micros]

    @pytest.mark.anyio
    async def test_anthropic_disconnect_after_message_start_bills_its_cache_write(
        self, sim: RunningSimulator, session: aiohttp.ClientSession
    ) -> None:
        # Case (a): message_start carried the input split (a cache write here), so the input
        # is billed from it exactly; only the output is our count of the text received.
        client = make_client("anthropic", sim, session, fault="disconnect", output_tokens="40")
        agent = make_agent(client, "anthropic")
        meter = SimMeter(sim)
        outcome = StreamOutcome()
        text, last = await stream_until(
            agent, ask("anthropic", FIRST_QUESTION), outcome, stop_after=None
        )
        assert isinstance(last, Error) and last.code == "stream_interrupted"
        assert text and outcome.status == "failed"
        counted = meter.delta()
        assert counted.cache_write >= 1024
        usage = outcome.usage
        assert usage.estimated
        assert (usage.prompt, usage.cached_prompt, usage.cache_write) == (
            counted.prompt,
            0,
            counted.cache_write,
        )
        assert usage.completion == count_text_tokens(text, ANTHROPIC_MODEL) == counted.completion
        assert outcome.cost_usd_micros == hand_priced_usage(ANTHROPIC_MODEL, usage) > 0
        # Not the all-plain-input guess: the written tokens cost the write price.
        guess = estimated_usage("anthropic", FIRST_QUESTION, text)
        assert outcome.cost_usd_micros > priced(ANTHROPIC_MODEL, guess)

    @pytest.mark.anyio
    async def test_anthropic_consumer_closing_after_a_cache_read_bills_the_read_price(
        self, sim: RunningSimulator, session: aiohttp.ClientSession
    ) -> None:
        warm = make_agent(make_client("anthropic", sim, session), "anthropic")
        await warm.answer(ask("anthropic", FIRST_QUESTION))  # writes the system prefix
        slow = make_client("anthropic", sim, session, output_tokens="400", tokens_per_s="200")
        budget = RecordingBudget()
        agent = make_agent(slow, "anthropic", budget=budget)
        meter = SimMeter(sim)
        outcome = StreamOutcome()
        text, _ = await stream_until(
            agent, ask("anthropic", SECOND_QUESTION), outcome, stop_after=3
        )
        assert outcome.status == "cancelled"
        counted = meter.delta()
        usage = outcome.usage
        assert usage.estimated and counted.cached_prompt >= 1024
        assert (usage.prompt, usage.cached_prompt, usage.cache_write) == (
            counted.prompt,
            counted.cached_prompt,
            0,
        )
        assert usage.completion == count_text_tokens(text, ANTHROPIC_MODEL) > 0
        assert outcome.cost_usd_micros == hand_priced_usage(ANTHROPIC_MODEL, usage) > 0
        # Cache reads at 10% of input: far below the all-plain-input guess.
        guess = estimated_usage("anthropic", SECOND_QUESTION, text)
        assert outcome.cost_usd_micros < priced(ANTHROPIC_MODEL, guess)
        assert budget.settled == [outcome.cost_usd_micros]

    @pytest.mark.anyio
    async def test_anthropic_cut_before_message_start_costs_nothing(
        self, sim: RunningSimulator, session: aiohttp.ClientSession
    ) -> None:
        # Case (b): the provider never answered (it hangs until our timeout): it reported no
        # usage and produced nothing, so nothing is billed (no phantom charge for a prompt
        # the provider may never have processed).
        client = make_client("anthropic", sim, session, fault="hang", timeout_s=0.3)
        agent = make_agent(client, "anthropic")
        outcome = StreamOutcome()
        with anyio.fail_after(10):
            text, last = await stream_until(
                agent, ask("anthropic", FIRST_QUESTION), outcome, stop_after=None
            )
        assert isinstance(last, Error) and last.code == "upstream_timeout"
        assert text == "" and outcome.status == "failed"
        assert outcome.usage == Usage()
        assert outcome.cost_usd_micros == 0
