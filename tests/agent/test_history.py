"""ConversationHistory: per-session turns in a TTLStore, summarised past N turns."""

from __future__ import annotations

import pytest

from agent.errors import UpstreamError
from agent.history import ConversationHistory, HistoryRecord
from agent.pipeline import ChatRequest
from agent.testing import ScriptedClient
from agent.types import Message
from cache.memory import MemoryTTLStore
from metrics.pricing import PriceTable
from tests.agent.pipeline.support import CHEAP, ask, build_registry, make_agent

pytestmark = pytest.mark.anyio


def turns(*texts: str) -> list[Message]:
    roles = ("user", "assistant")
    return [Message(roles[i % 2], text) for i, text in enumerate(texts)]  # type: ignore[arg-type]


class TestStore:
    async def test_turns_round_trip_per_session_and_tenant(self) -> None:
        history = ConversationHistory(MemoryTTLStore(), max_turns=10)
        await history.append("s1", turns("hi", "hello"))
        await history.append("s1", turns("how are you", "fine"))
        await history.append("s1", turns("other tenant", "ok"), tenant="t2")
        record = await history.load("s1")
        assert [m.content for m in record.messages] == ["hi", "hello", "how are you", "fine"]
        assert (await history.load("s2")) == HistoryRecord()
        assert len((await history.load("s1", tenant="t2")).messages) == 2

    async def test_without_a_summariser_early_turns_are_dropped(self) -> None:
        history = ConversationHistory(MemoryTTLStore(), max_turns=4, keep_recent=2)
        compaction = await history.append("s", turns("1", "2", "3", "4", "5"))
        record = await history.load("s")
        assert compaction is None and [m.content for m in record.messages] == ["4", "5"]
        assert record.summarized_turns == 3 and record.summary is None
        assert record.summarized_user_turns == 2  # "1" and "3" were user turns

    async def test_folded_user_turns_accumulate_across_compactions(self) -> None:
        history = ConversationHistory(MemoryTTLStore(), max_turns=4, keep_recent=2)
        for i in range(5):
            await history.append("s", turns(f"q{i}", f"a{i}"))
        record = await history.load("s")
        assert [m.content for m in record.messages] == ["q4", "a4"]
        assert record.summarized_user_turns == 4


class TestSummary:
    async def test_early_turns_become_a_summary_by_the_cheap_model(self) -> None:
        llm = ScriptedClient("scripted", default="Customer asked about order 1001.")
        history = ConversationHistory(
            MemoryTTLStore(), max_turns=4, keep_recent=2, llm=llm, summary_model=CHEAP
        )
        assert await history.append("s", turns("a", "b", "c", "d")) is None
        compaction = await history.append("s", turns("e", "f"))
        assert compaction is not None and compaction.folded_turns == 4
        assert compaction.model == CHEAP and compaction.usage.total > 0
        record = await history.load("s")
        assert record.summary == "Customer asked about order 1001."
        assert [m.content for m in record.messages] == ["e", "f"]
        transcript = llm.calls[0].request.messages[0].content
        assert "user: a" in transcript and "assistant: d" in transcript
        assert llm.calls[0].request.model == CHEAP

    async def test_a_failed_summary_drops_the_early_turns_without_raising(self) -> None:
        llm = ScriptedClient("scripted", default=UpstreamError("down"))
        history = ConversationHistory(
            MemoryTTLStore(), max_turns=2, keep_recent=1, llm=llm, summary_model=CHEAP
        )
        assert await history.append("s", turns("a", "b", "c")) is None
        assert [m.content for m in (await history.load("s")).messages] == ["c"]


async def test_pipeline_counts_the_summary_cost_and_uses_the_summary() -> None:
    llm = ScriptedClient("scripted", default="Sure, happy to help with that.")
    history = ConversationHistory(
        MemoryTTLStore(), max_turns=4, keep_recent=2, llm=llm, summary_model=CHEAP
    )
    agent = make_agent(await build_registry(), llm=llm, history=history)
    first = await agent.answer(ask("Hi, I am Ada", session_id="s"))
    second = await agent.answer(ask("How do I track my order?", session_id="s"))
    assert first.summary_cost_usd_micros == second.summary_cost_usd_micros == 0
    assert second.cache_diagnostics.semantic == "skipped:multi_turn"
    third = await agent.answer(ask("And returns?", session_id="s"))
    summary_call = llm.calls[3].request  # calls: answer, answer, answer, summary
    assert summary_call.model == CHEAP and summary_call.system is not None
    answer_cost = PriceTable().cost_usd_micros(CHEAP, third.usage)
    assert third.summary_cost_usd_micros > 0 and answer_cost is not None
    assert third.cost_usd_micros == answer_cost + third.summary_cost_usd_micros
    fourth = await agent.answer(ChatRequest(messages=(Message("user", "Thanks"),), session_id="s"))
    prompt = llm.calls[-1].request
    assert prompt.system is not None and "Summary of the earlier conversation" in prompt.system
    assert [m.content for m in prompt.messages][-1] == "Thanks" and fourth.answer
