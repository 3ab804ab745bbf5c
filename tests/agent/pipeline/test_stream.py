"""Agent.stream: event order, cache replay, cancellation billing, failures as events."""

from __future__ import annotations

from contextlib import aclosing

import anyio
import pytest

from agent.errors import InvalidRequest, UpstreamError
from agent.fallback import FallbackClient
from agent.pipeline import Agent, ChatRequest, Done, Error, Meta, StreamOutcome, Token
from agent.pipeline.response import StreamEvent
from agent.retry import RetryPolicy
from agent.simulation import Pace
from agent.testing import Chunks, ScriptedClient
from agent.tokens import count_text_tokens
from agent.tools import ToolRegistry
from agent.types import Message
from metrics.pricing import PriceTable
from tests.agent.pipeline.support import (
    CHEAP,
    STRONG,
    RecordingBudget,
    ask,
    build_registry,
    fast_sim,
    make_agent,
)

pytestmark = pytest.mark.anyio

QUESTION = "How do I track my order?"


@pytest.fixture
async def registry() -> ToolRegistry:
    return await build_registry()


async def collect(agent: Agent, request: ChatRequest) -> list[StreamEvent]:
    async with aclosing(agent.stream(request)) as events:
        return [event async for event in events]


async def test_events_are_meta_then_tokens_then_done(registry: ToolRegistry) -> None:
    agent = make_agent(registry)
    events = await collect(agent, ask(QUESTION))
    meta, *tokens, done = events
    assert isinstance(meta, Meta) and meta.model == CHEAP and meta.cache is None
    assert tokens and all(isinstance(t, Token) for t in tokens)
    assert isinstance(done, Done) and done.request_id == meta.request_id
    text = "".join(t.text for t in tokens if isinstance(t, Token))
    # The same question answered in one piece gives the same text (deterministic simulator).
    whole = await make_agent(registry, exact=False, semantic=False).answer(ask(QUESTION))
    assert text == whole.answer
    cost = PriceTable().cost_usd_micros(CHEAP, done.usage)
    assert cost is not None and done.cost_usd_micros == cost > 0
    assert 0 <= done.latency_ms["ttft"] <= done.latency_ms["total"]
    assert "kb-orders-001" in done.sources


async def test_cache_hit_is_replayed_in_pieces_at_no_cost(registry: ToolRegistry) -> None:
    agent = make_agent(registry)
    first = await agent.answer(ask(QUESTION))
    events = await collect(agent, ask(QUESTION))
    meta, *tokens, done = events
    assert isinstance(meta, Meta) and meta.cache == "exact"
    assert len(tokens) > 1 and "".join(t.text for t in tokens if isinstance(t, Token)) == (
        first.answer
    )
    assert isinstance(done, Done) and done.cost_usd_micros == 0
    assert done.saved_usd_micros == first.cost_usd_micros


async def test_closing_the_stream_early_bills_only_the_tokens_received(
    registry: ToolRegistry,
) -> None:
    budget = RecordingBudget()
    agent = make_agent(registry, llm=fast_sim(Pace(0.0, 50.0)), budget=budget)
    outcome = StreamOutcome()
    received: list[str] = []
    async with aclosing(agent.stream(ask(QUESTION), outcome=outcome)) as events:
        async for event in events:
            if isinstance(event, Token):
                received.append(event.text)
                if len(received) == 3:
                    break
    full = await make_agent(registry, semantic=False, exact=False).answer(ask(QUESTION))
    assert outcome.status == "cancelled" and outcome.usage.estimated
    assert outcome.usage.completion == count_text_tokens("".join(received), CHEAP)
    assert outcome.usage.completion < full.usage.completion
    assert outcome.usage.prompt > 0
    assert budget.settled == [outcome.cost_usd_micros] and outcome.cost_usd_micros > 0


async def test_cancelling_the_consumer_bills_what_was_produced(registry: ToolRegistry) -> None:
    agent = make_agent(registry, llm=fast_sim(Pace(0.0, 40.0)))
    outcome = StreamOutcome()
    received: list[str] = []
    with anyio.move_on_after(0.2) as scope:
        async with aclosing(agent.stream(ask(QUESTION), outcome=outcome)) as events:
            async for event in events:
                if isinstance(event, Token):
                    received.append(event.text)
    assert scope.cancelled_caught and received
    assert outcome.status == "cancelled"
    # The upstream may have produced at most the one token in flight when we were cancelled.
    assert len(received) <= outcome.usage.completion <= len(received) + 1
    assert outcome.usage.completion < 30


async def test_failure_after_tokens_ends_with_an_error_event(registry: ToolRegistry) -> None:
    llm = FallbackClient(
        ScriptedClient("primary", [Chunks(("Hello", " there"), error=UpstreamError("reset"))]),
        None,
        timeout_s=5.0,
        retry=RetryPolicy(max_attempts=1, base_delay_s=0.0, total_deadline_s=5.0),
    )
    outcome = StreamOutcome()
    agent = make_agent(registry, llm=llm)
    async with aclosing(agent.stream(ask(QUESTION), outcome=outcome)) as stream:
        events = [event async for event in stream]
    assert [type(e) for e in events] == [Meta, Token, Token, Error]
    error = events[-1]
    assert isinstance(error, Error) and error.code == "stream_interrupted"
    assert outcome.status == "failed" and outcome.usage.completion == 2
    assert outcome.error_code == "stream_interrupted"


async def test_failure_before_tokens_is_an_error_event_too(registry: ToolRegistry) -> None:
    llm = ScriptedClient("scripted", default=UpstreamError("down", status=503))
    events = await collect(make_agent(registry, llm=llm), ask(QUESTION))
    assert [type(e) for e in events] == [Meta, Error]
    error = events[-1]
    assert isinstance(error, Error) and error.code == "upstream_error"


async def test_invalid_request_raises_before_the_first_event(registry: ToolRegistry) -> None:
    request = ChatRequest(messages=(Message("assistant", "hi"),))
    with pytest.raises(InvalidRequest):
        await collect(make_agent(registry), request)


async def test_closing_the_stream_closes_the_upstream_call(registry: ToolRegistry) -> None:
    llm = ScriptedClient("scripted", [Chunks(("a", " b", " c", " d", " e"), gap_s=0.05)])
    agent = make_agent(registry, llm=llm)
    async with aclosing(agent.stream(ask(QUESTION))) as events:
        async for event in events:
            if isinstance(event, Token):
                break
    assert llm.calls[0].ended in ("closed", "cancelled")


async def test_closing_the_stream_right_after_done_keeps_it_completed(
    registry: ToolRegistry,
) -> None:
    # A client that goes away as the last event is sent must not turn a finished, billed
    # stream into a cancelled one, nor bill it again.
    budget = RecordingBudget()
    agent = make_agent(registry, budget=budget)
    outcome = StreamOutcome()
    async with aclosing(agent.stream(ask(QUESTION), outcome=outcome)) as events:
        async for event in events:
            if isinstance(event, Done):
                done = event
                break
    assert outcome.status == "completed"
    assert outcome.cost_usd_micros == done.cost_usd_micros > 0
    assert budget.settled == [done.cost_usd_micros]


async def test_first_token_names_the_fallback_model_that_answered(
    registry: ToolRegistry,
) -> None:
    llm = FallbackClient(
        ScriptedClient("primary", default=UpstreamError("down", status=503)),
        ScriptedClient("secondary", default="Try restarting the deploy."),
        timeout_s=5.0,
        secondary_model=CHEAP,
        retry=RetryPolicy(max_attempts=1, base_delay_s=0.0, total_deadline_s=5.0),
    )
    events = await collect(make_agent(registry, llm=llm), ask("My deploy fails with an error"))
    meta, first, *rest = events
    assert isinstance(meta, Meta) and meta.model == STRONG  # what the router chose
    assert isinstance(first, Token) and first.model == CHEAP  # who actually answered
    assert all(isinstance(t, Token) and t.model is None for t in rest[:-1])
    done = events[-1]
    assert isinstance(done, Done) and done.model == CHEAP and done.used_fallback
