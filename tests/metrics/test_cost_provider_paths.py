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
from contextlib import aclosing
from dataclasses import dataclass
from typing import Literal

import aiohttp
import anyio
import pytest

from agent.anthropic_client import AnthropicClient
from agent.base import LLMClient
from agent.http import create_http_session
from agent.openai_client import OpenAIClient
from agent.pipeline import (
    Agent,
    ChatRequest,
    ChatResponse,
    Done,
    Error,
    StreamEvent,
    StreamOutcome,
    Token,
)
from agent.tokens import count_message_tokens, count_text_tokens
from agent.tools import ToolRegistry
from agent.types import LLMRequest, Message, Usage
from metrics.pricing import ModelPrice, PriceTable
from router.rules import RuleRouter
from tests.agent.pipeline.support import RecordingBudget
from tests.support.sim_http import LONG_SYSTEM
from tests.support.simulator import RunningSimulator

OPENAI_MODEL = "gpt-4o-mini"
ANTHROPIC_MODEL = "claude-haiku-4-5"
Provider = Literal["openai", "anthropic"]
MODEL: dict[Provider, str] = {"openai": OPENAI_MODEL, "anthropic": ANTHROPIC_MODEL}
# Two different questions behind one long (>1,024-token) system prompt: the second call's
# prefix is the first's, so the provider's prompt cache is written, then read.
FIRST_QUESTION = "How do I reset my password?"
SECOND_QUESTION = "Where is my order?"
# Stripped, as the Agent's prompt assembly strips it, so both layers send the same prefix.
SYSTEM = LONG_SYSTEM.strip()
TABLE = PriceTable()


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with create_http_session(pool_size=8, connect_timeout_s=2.0) as http:
        yield http


def make_client(
    provider: Provider,
    sim: RunningSimulator,
    session: aiohttp.ClientSession,
    *,
    timeout_s: float = 5.0,
    **knobs: str,
) -> OpenAIClient | AnthropicClient:
    headers = {f"x-sim-{name.replace('_', '-')}": value for name, value in knobs.items()}
    if provider == "openai":
        return OpenAIClient(
            session,
            base_url=sim.base_url + "/v1",
            api_key="sk-test",
            timeout_s=timeout_s,
            extra_headers=headers,
        )
    return AnthropicClient(
        session,
        base_url=sim.base_url,
        api_key="sk-ant-test",
        timeout_s=timeout_s,
        extra_headers=headers,
    )


@dataclass(frozen=True)
class Counted:
    """What the simulator counted between two snapshots, in `Usage` terms."""

    prompt: int
    cached_prompt: int
    cache_write: int
    completion: int

    def as_usage(self, *, estimated: bool = False) -> Usage:
        return Usage(
            prompt=self.prompt,
            cached_prompt=self.cached_prompt,
            cache_write=self.cache_write,
            completion=self.completion,
            estimated=estimated,
        )


class SimMeter:
    """Reads the simulator's token counters before and after a call."""

    def __init__(self, sim: RunningSimulator) -> None:
        self._sim = sim
        self._last = self._read()

    def _read(self) -> Counted:
        stats = self._sim.stats()
        return Counted(
            stats.prompt_tokens,
            stats.cached_prompt_tokens,
            stats.cache_write_tokens,
            stats.completion_tokens,
        )

    def delta(self) -> Counted:
        now = self._read()
        last, self._last = self._last, now
        return Counted(
            now.prompt - last.prompt,
            now.cached_prompt - last.cached_prompt,
            now.cache_write - last.cache_write,
            now.completion - last.completion,
        )


def price_of(model: str) -> ModelPrice:
    price = TABLE.price_for(model)
    assert price is not None
    return price


def hand_priced(model: str, *, plain: int, cached: int, written: int, output: int) -> int:
    """The bill worked out by hand: each bucket at its own price, rounded up once."""
    price = price_of(model)
    numerator = (
        plain * price.input
        + cached * price.cached_input
        + written * price.cache_write
        + output * price.output
    )
    return (numerator + 999_999) // 1_000_000


def hand_priced_usage(model: str, usage: Usage) -> int:
    plain = usage.prompt - usage.cached_prompt - usage.cache_write
    return hand_priced(
        model,
        plain=plain,
        cached=usage.cached_prompt,
        written=usage.cache_write,
        output=usage.completion,
    )


def priced(model: str, usage: Usage) -> int:
    cost = TABLE.cost_usd_micros(model, usage)
    assert cost is not None
    return cost


def llm_request(provider: Provider, question: str) -> LLMRequest:
    return LLMRequest(
        model=MODEL[provider],
        messages=(Message("user", question),),
        system=SYSTEM,
        max_tokens=64,
    )


async def call(
    client: OpenAIClient | AnthropicClient, request: LLMRequest, *, stream: bool
) -> Usage:
    if not stream:
        return (await client.generate(request)).usage
    async with aclosing(client.stream(request)) as chunks:
        received = [chunk async for chunk in chunks]
    assert any(chunk.text for chunk in received)
    final = received[-1].usage
    assert final is not None
    return final


PATHS = [
    pytest.param("openai", False, id="openai-json"),
    pytest.param("openai", True, id="openai-sse"),
    pytest.param("anthropic", False, id="anthropic-json"),
    pytest.param("anthropic", True, id="anthropic-sse"),
]


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


def make_agent(
    llm: LLMClient, provider: Provider, *, budget: RecordingBudget | None = None
) -> Agent:
    model = MODEL[provider]
    return Agent(
        llm=llm,
        router=RuleRouter(cheap_model=model, strong_model=model),
        cheap_model=model,
        strong_model=model,
        costs=TABLE,
        tools=ToolRegistry(()),
        system_prompt=SYSTEM,
        budget=budget,
    )


def ask(provider: Provider, question: str) -> ChatRequest:
    return ChatRequest(messages=(Message("user", question),), model=MODEL[provider])


async def collect(agent: Agent, request: ChatRequest, outcome: StreamOutcome) -> list[StreamEvent]:
    async with aclosing(agent.stream(request, outcome=outcome)) as events:
        return [event async for event in events]


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


async def stream_until(
    agent: Agent, request: ChatRequest, outcome: StreamOutcome, *, stop_after: int | None
) -> tuple[str, StreamEvent | None]:
    """Consume a stream, closing it after ``stop_after`` tokens; (text, the last event)."""
    parts: list[str] = []
    last: StreamEvent | None = None
    async with aclosing(agent.stream(request, outcome=outcome)) as events:
        async for event in events:
            last = event
            if isinstance(event, Token):
                parts.append(event.text)
                if stop_after is not None and len(parts) == stop_after:
                    break
    return "".join(parts), last


def estimated_usage(provider: Provider, question: str, text: str) -> Usage:
    """Our tokenizer's count of a call: the whole prompt as plain input, the text received."""
    model = MODEL[provider]
    prompt = count_message_tokens((Message("user", question),), model, system=SYSTEM)
    return Usage(prompt=prompt, completion=count_text_tokens(text, model), estimated=True)


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
    async def test_anthropic_cut_before_message_start_is_billed_from_a_tiktoken_count(
        self, sim: RunningSimulator, session: aiohttp.ClientSession
    ) -> None:
        # Case (b): the provider never answered (it hangs until our timeout), so no usage
        # arrived; the prompt we sent is billed from our count, flagged estimated.
        client = make_client("anthropic", sim, session, fault="hang", timeout_s=0.3)
        agent = make_agent(client, "anthropic")
        outcome = StreamOutcome()
        with anyio.fail_after(10):
            text, last = await stream_until(
                agent, ask("anthropic", FIRST_QUESTION), outcome, stop_after=None
            )
        assert isinstance(last, Error) and last.code == "upstream_timeout"
        assert text == "" and outcome.status == "failed"
        usage = estimated_usage("anthropic", FIRST_QUESTION, "")
        assert outcome.usage == usage and usage.prompt > 1024
        assert outcome.cost_usd_micros == hand_priced_usage(ANTHROPIC_MODEL, usage) > 0
