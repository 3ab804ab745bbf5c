"""Agent.answer: caches, routing, tools, cost accounting, fallback and validation."""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator, Sequence
from contextlib import aclosing

import aiohttp
import numpy as np
import numpy.typing as npt
import pytest
import redis.asyncio as redis

from agent.errors import BudgetExceeded, EmbeddingError, InvalidRequest, UpstreamError
from agent.fallback import FallbackClient
from agent.http import create_http_session
from agent.knowledge import KnowledgeBase
from agent.openai_client import OpenAIClient
from agent.pipeline import ChatRequest, Done, RequestLimits, Token
from agent.retry import RetryPolicy
from agent.testing import ScriptedClient
from agent.tools import KnowledgeBaseSearchTool, KnowledgeIndex, ToolRegistry
from agent.types import Message
from cache.memory import MemoryTTLStore
from cache.prompt_cache import PromptCache
from cache.redis_store import RedisTTLStore
from metrics.pricing import PriceTable
from tests.agent.pipeline.support import (
    CHEAP,
    STRONG,
    HashingEmbedder,
    RecordingBudget,
    ask,
    build_registry,
    make_agent,
)
from tests.support.simulator import RunningSimulator

pytestmark = pytest.mark.anyio

NO_RETRY = RetryPolicy(max_attempts=1, base_delay_s=0.0, total_deadline_s=5.0)


@pytest.fixture
async def registry() -> ToolRegistry:
    return await build_registry()


class TestFreshAnswer:
    async def test_simple_question_goes_cheap_and_reports_its_accounting(
        self, registry: ToolRegistry
    ) -> None:
        response = await make_agent(registry).answer(ask("How do I track my order?"))
        assert response.model == CHEAP and response.route.tier == "cheap"
        assert response.simulated and response.cache is None and not response.used_fallback
        table = PriceTable()
        expected = table.cost_usd_micros(CHEAP, response.usage)
        strong = table.cost_usd_micros(STRONG, response.usage)
        assert expected is not None and strong is not None
        assert response.cost_usd_micros == expected > 0 and response.cost_known
        assert response.saved_usd_micros == strong - expected > 0
        assert "kb-orders-001" in response.sources
        assert {"validate", "cache", "route", "tools", "llm", "total"} <= set(response.latency_ms)
        assert response.latency_ms["total"] >= response.latency_ms["llm"]

    async def test_prompt_puts_stable_prefix_before_documents_and_user_turn(
        self, registry: ToolRegistry
    ) -> None:
        llm = ScriptedClient("scripted", default="ok")
        await make_agent(registry, llm=llm).answer(ask("How do I track my order?"))
        await make_agent(registry, llm=llm).answer(ask("How do I reset my password?"))
        first, second = (call.request for call in llm.calls)
        assert first.system is not None and second.system is not None
        # Identical prefix up to the retrieved documents, so provider prefix caching hits.
        prefix = first.system.split("Reference material")[0]
        assert second.system.startswith(prefix) and "kb_search:" in prefix
        assert first.messages[-1] == Message("user", "How do I track my order?")


class TestExactCache:
    async def test_repeated_question_is_free_and_reports_the_saving(
        self, registry: ToolRegistry
    ) -> None:
        llm = ScriptedClient("scripted", default="Use the tracking link in your email.")
        agent = make_agent(registry, llm=llm)
        first = await agent.answer(ask("How do I track my order?"))
        second = await agent.answer(ask("How do I track my order?"))
        assert llm.call_count == 1
        assert second.cache == "exact" and second.answer == first.answer
        assert second.cost_usd_micros == 0 and second.usage.total == 0
        assert second.saved_usd_micros == first.cost_usd_micros > 0
        assert second.cache_diagnostics.exact == "hit" and second.route.tier == "cache"

    async def test_editing_a_source_document_invalidates_by_tag(
        self, registry: ToolRegistry
    ) -> None:
        llm = ScriptedClient("scripted", default="answer")
        prompt_cache = PromptCache(MemoryTTLStore(), ttl_by_class={"default": 60.0})
        agent = make_agent(registry, llm=llm, semantic=False, prompt_cache=prompt_cache)
        first = await agent.answer(ask("How do I track my order?"))
        assert first.cache_diagnostics.write.startswith("stored:")
        assert await prompt_cache.invalidate_tag("kb-orders-001") == 1
        again = await agent.answer(ask("How do I track my order?"))
        assert again.cache is None and llm.call_count == 2

    async def test_no_store_skips_the_write_and_no_cache_skips_the_read(
        self, registry: ToolRegistry
    ) -> None:
        llm = ScriptedClient("scripted", default="answer")
        agent = make_agent(registry, llm=llm)
        first = await agent.answer(ask("How do I track my order?", cache="no-store"))
        assert first.cache_diagnostics.write == "skipped:no-store"
        second = await agent.answer(ask("How do I track my order?"))
        assert second.cache is None and second.cache_diagnostics.write.startswith("stored:")
        third = await agent.answer(ask("How do I track my order?", cache="no-cache"))
        assert third.cache is None and third.cache_diagnostics.exact == "skipped:no-cache"
        assert llm.call_count == 3

    async def test_nonzero_temperature_is_not_cached(self, registry: ToolRegistry) -> None:
        llm = ScriptedClient("scripted", default="answer")
        agent = make_agent(registry, llm=llm)
        for _ in range(2):
            response = await agent.answer(ask("How do I track my order?", temperature=0.7))
            assert response.cache is None
            assert response.cache_diagnostics.write == "skipped:temperature"
        assert llm.call_count == 2

    async def test_an_answer_cut_by_max_tokens_is_never_cached(
        self, registry: ToolRegistry
    ) -> None:
        agent = make_agent(registry, semantic=False)
        cut = await agent.answer(ask("How do I reset my password?", max_tokens=2))
        assert cut.finish_reason == "length"
        assert cut.cache_diagnostics.write == "skipped:finish_reason:length"
        again = await agent.answer(ask("How do I reset my password?", max_tokens=2))
        assert again.cache is None and again.cost_usd_micros > 0


class TestSemanticCache:
    async def test_paraphrase_is_served_by_the_semantic_cache(self, registry: ToolRegistry) -> None:
        llm = ScriptedClient("scripted", default="Use the tracking link.")
        agent = make_agent(registry, llm=llm)
        first = await agent.answer(ask("How do I track my order?"))
        second = await agent.answer(ask("how can I track my order"))
        assert second.cache == "semantic" and second.answer == first.answer
        assert second.cache_diagnostics.exact == "miss"
        assert second.cost_usd_micros == 0 and second.saved_usd_micros == first.cost_usd_micros
        assert llm.call_count == 1

    async def test_caller_instructions_partition_the_semantic_cache(
        self, registry: ToolRegistry
    ) -> None:
        llm = ScriptedClient("scripted", default="Utilisez le lien de suivi.")
        agent = make_agent(registry, llm=llm)
        french = (Message("system", "Answer only in French."),)
        await agent.answer(
            ChatRequest(messages=(*french, Message("user", "How do I track my order?")))
        )
        plain = await agent.answer(ask("how can I track my order"))
        assert plain.cache is None and llm.call_count == 2
        same_instructions = await agent.answer(
            ChatRequest(messages=(*french, Message("user", "how can I track my order")))
        )
        assert same_instructions.cache == "semantic"

    async def test_negated_question_is_not_served(self, registry: ToolRegistry) -> None:
        llm = ScriptedClient("scripted", default="answer")
        agent = make_agent(registry, llm=llm)
        await agent.answer(ask("Can I cancel my order?"))
        negated = await agent.answer(ask("Can I not cancel my order?"))
        assert negated.cache is None and llm.call_count == 2
        assert negated.cache_diagnostics.semantic == "guard:negation"

    async def test_multi_turn_conversations_skip_the_semantic_cache(
        self, registry: ToolRegistry
    ) -> None:
        agent = make_agent(registry, llm=ScriptedClient("scripted", default="answer"))
        messages = (
            Message("user", "Hi"),
            Message("assistant", "Hello!"),
            Message("user", "How do I track my order?"),
        )
        response = await agent.answer(ChatRequest(messages=messages))
        assert response.cache_diagnostics.semantic == "skipped:multi_turn"


class TestRealtimeAndPersonal:
    async def test_order_status_answer_is_not_cached_with_realtime_ttl_zero(
        self, registry: ToolRegistry
    ) -> None:
        llm = ScriptedClient("scripted", default="It is processing.")
        agent = make_agent(registry, llm=llm)
        question = ask("Where is my order #1001?", user_id="u-1001")
        first = await agent.answer(question)
        assert first.content_class == "realtime"
        assert first.cache_diagnostics.write == "not_stored:realtime"
        assert "order:1001" in first.sources
        second = await agent.answer(question)
        assert second.cache is None and llm.call_count == 2

    async def test_personal_answers_are_keyed_by_user(self, registry: ToolRegistry) -> None:
        llm = ScriptedClient("scripted", default="It is processing.")
        agent = make_agent(registry, llm=llm, ttl_overrides={"realtime": 30.0})
        first = await agent.answer(ask("Where is order 1001?", user_id="u-1001"))
        assert first.cache_diagnostics.semantic == "skipped:personal"
        same_user = await agent.answer(ask("Where is order 1001?", user_id="u-1001"))
        other_user = await agent.answer(ask("Where is order 1001?", user_id="u-1002"))
        assert same_user.cache == "exact" and other_user.cache is None


class TestRouting:
    async def test_technical_keyword_goes_to_the_strong_model(self, registry: ToolRegistry) -> None:
        response = await make_agent(registry).answer(ask("My webhook returns an error"))
        assert response.model == STRONG and response.route.tier == "strong"
        assert response.route.reason == "technical keyword: webhook"
        assert response.saved_usd_micros == 0

    @pytest.mark.parametrize(
        ("model", "tier"), [("gpt-4.1", "explicit"), (STRONG, "strong"), (CHEAP, "cheap")]
    )
    async def test_explicit_model_bypasses_the_router(
        self, registry: ToolRegistry, model: str, tier: str
    ) -> None:
        llm = ScriptedClient("scripted", default="answer")
        response = await make_agent(registry, llm=llm).answer(ask("Hi there", model=model))
        assert response.route.tier == tier and response.route.reason == "explicit model"
        assert llm.calls[0].request.model == model and response.saved_usd_micros == 0


class TestTools:
    async def test_tools_run_concurrently_and_their_time_is_recorded(self) -> None:
        registry = await build_registry(tool_latency_s=0.25)
        agent = make_agent(registry, llm=ScriptedClient("scripted", default="ok"))
        response = await agent.answer(
            ask("What is on my account, and where is order 1001?", user_id="u-1001")
        )
        assert [t.name for t in response.tools] == ["kb_search", "order_status", "user_profile"]
        assert all(t.ok for t in response.tools)
        # Two 250 ms tools side by side take ~250 ms, not 500.
        assert 250 <= response.latency_ms["tools"] < 450

    async def test_a_failed_tool_is_isolated_and_shortens_the_cache_ttl(self) -> None:
        embedder = _BreakableEmbedder()
        index = await KnowledgeIndex.build(KnowledgeBase.load_default(), embedder)
        registry = ToolRegistry([KnowledgeBaseSearchTool(index, min_score=0.2)])
        embedder.broken = True
        llm = ScriptedClient("scripted", default="ok")
        response = await make_agent(registry, llm=llm).answer(ask("How do I track my order?"))
        assert response.answer == "ok"
        assert [(t.name, t.ok) for t in response.tools] == [("kb_search", False)]
        assert response.content_class == "short"

    async def test_iteration_limit_of_one_leaves_room_only_for_the_model(
        self, registry: ToolRegistry
    ) -> None:
        llm = ScriptedClient("scripted", default="ok")
        response = await make_agent(registry, llm=llm, max_iterations=1).answer(
            ask("How do I track my order?")
        )
        assert response.tools == [] and llm.call_count == 1


class _BreakableEmbedder(HashingEmbedder):
    broken = False

    async def embed(self, texts: Sequence[str]) -> npt.NDArray[np.float32]:
        if self.broken:
            raise EmbeddingError("embedder down", failed_indexes=list(range(len(texts))))
        return await super().embed(texts)


class TestFallbackAndBudget:
    async def test_fallback_flag_propagates_and_shortens_the_cache_ttl(
        self, registry: ToolRegistry
    ) -> None:
        llm = FallbackClient(
            ScriptedClient("primary", default=UpstreamError("down", status=502)),
            ScriptedClient("secondary", default="from the secondary"),
            timeout_s=5.0,
            retry=NO_RETRY,
        )
        response = await make_agent(registry, llm=llm).answer(ask("How do I track my order?"))
        assert response.used_fallback and response.answer == "from the secondary"
        assert response.fallback_reason == "primary_error:upstream_error"
        assert response.content_class == "short"

    async def test_budget_reserves_worst_case_and_settles_the_actual_cost(
        self, registry: ToolRegistry
    ) -> None:
        budget = RecordingBudget()
        response = await make_agent(registry, budget=budget).answer(
            ask("How do I track my order?", max_tokens=100)
        )
        assert budget.settled == [response.cost_usd_micros]
        assert budget.reserved[0] >= response.cost_usd_micros

    async def test_reservation_covers_the_assembled_prompt_not_only_the_question(
        self, registry: ToolRegistry
    ) -> None:
        # A tiny max_tokens makes the prompt dominate: the system prompt, tool descriptions
        # and retrieved documents must be in the hold, or concurrent requests overspend.
        budget = RecordingBudget()
        response = await make_agent(registry, budget=budget).answer(
            ask("How do I track my order?", max_tokens=1)
        )
        assert response.usage.prompt > 100  # far more than the question's own tokens
        assert budget.reserved[0] >= response.cost_usd_micros > 0

    async def test_a_plain_completion_runs_no_tools(self, registry: ToolRegistry) -> None:
        agent = make_agent(registry)
        with_tools = await agent.answer(ask("How do I track my order?", cache="no-store"))
        plain = await agent.answer(
            ask("How do I track my order?", cache="no-store", use_tools=False)
        )
        assert with_tools.tools and with_tools.sources
        assert plain.tools == [] and plain.sources == []
        assert plain.usage.prompt < with_tools.usage.prompt  # no retrieved documents

    async def test_cache_hits_need_no_reservation(self, registry: ToolRegistry) -> None:
        budget = RecordingBudget()
        agent = make_agent(registry, budget=budget)
        await agent.answer(ask("How do I track my order?"))
        hit = await agent.answer(ask("How do I track my order?"))
        assert hit.cache == "exact" and len(budget.reserved) == 1

    async def test_budget_refusal_is_raised_before_any_call(self, registry: ToolRegistry) -> None:
        llm = ScriptedClient("scripted", default="answer")
        agent = make_agent(registry, llm=llm, budget=RecordingBudget(limit=1))
        with pytest.raises(BudgetExceeded) as caught:
            await agent.answer(ask("How do I track my order?"))
        assert caught.value.code == "budget_exceeded" and llm.call_count == 0


class TestValidation:
    @pytest.mark.parametrize(
        ("messages", "fields", "reason"),
        [
            ((), {}, "no_messages"),
            ((Message("assistant", "hi"),), {}, "last_not_user"),
            ((Message("user", "   "),), {}, "empty_content"),
            ((Message("user", "x"),) * 5, {}, "too_many_messages"),
            ((Message("user", "word " * 200),), {}, "prompt_too_long"),
            ((Message("user", "hi"),), {"temperature": 3.0}, "bad_temperature"),
            ((Message("user", "hi"),), {"max_tokens": 0}, "bad_max_tokens"),
        ],
    )
    async def test_invalid_requests_have_stable_codes(
        self,
        registry: ToolRegistry,
        messages: tuple[Message, ...],
        fields: dict[str, float],
        reason: str,
    ) -> None:
        agent = make_agent(registry, limits=RequestLimits(max_messages=4, max_prompt_tokens=100))
        with pytest.raises(InvalidRequest) as caught:
            await agent.answer(ChatRequest(messages=messages, **fields))  # type: ignore[arg-type]
        assert caught.value.code == "invalid_request" and caught.value.reason == reason


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with create_http_session(pool_size=4, connect_timeout_s=2.0) as http:
        yield http


async def test_answers_through_the_openai_client_and_the_simulator(
    registry: ToolRegistry, sim: RunningSimulator, session: aiohttp.ClientSession
) -> None:
    llm = OpenAIClient(session, base_url=f"{sim.base_url}/v1", api_key="k", timeout_s=5)
    response = await make_agent(registry, llm=llm).answer(ask("How do I track my order?"))
    assert response.answer and response.model.startswith(CHEAP)
    assert response.usage.prompt > 0 and not response.usage.estimated
    assert response.cost_usd_micros == PriceTable().cost_usd_micros(CHEAP, response.usage)


async def test_streams_through_the_openai_client_with_provider_usage(
    registry: ToolRegistry, sim: RunningSimulator, session: aiohttp.ClientSession
) -> None:
    llm = OpenAIClient(session, base_url=f"{sim.base_url}/v1", api_key="k", timeout_s=5)
    agent = make_agent(registry, llm=llm)
    async with aclosing(agent.stream(ask("How do I track my order?"))) as events:
        collected = [event async for event in events]
    done = collected[-1]
    assert isinstance(done, Done) and not done.usage.estimated and done.usage.completion > 0
    assert sum(isinstance(e, Token) for e in collected) >= 2


async def test_an_unreachable_redis_cache_serves_uncached(registry: ToolRegistry) -> None:
    with socket.socket() as probe:  # a loopback port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    client = redis.Redis(host="127.0.0.1", port=port, socket_connect_timeout=0.2)
    try:
        store = RedisTTLStore(client, op_timeout_s=0.2)
        prompt_cache = PromptCache(store, ttl_by_class={"default": 60.0})
        llm = ScriptedClient("scripted", default="answer")
        agent = make_agent(registry, llm=llm, prompt_cache=prompt_cache, semantic=False)
        response = await agent.answer(ask("How do I track my order?"))
    finally:
        await client.aclose()
    assert response.answer == "answer" and response.cache is None
    assert response.cache_diagnostics.exact == "error:store_unavailable"
