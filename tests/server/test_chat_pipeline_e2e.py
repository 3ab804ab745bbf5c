"""The Answer pipeline end to end through ``POST /chat`` against the upstream simulator:
routing rules, conversation history, tools, and what a cache hit saves.

Each gateway start loads MiniLM (~1.5 s), so every test shares one gateway across several
checks that do not interfere (distinct questions, or ``cache: no-cache`` where a cache hit
would answer instead of the router).
"""

from __future__ import annotations

import re
from contextlib import AsyncExitStack
from typing import Any

import aiohttp
import pytest

from agent.knowledge import KnowledgeBase
from agent.tokens import count_message_tokens
from agent.types import Message, Usage
from metrics.pricing import PriceTable
from router.rules import RuleRouter
from server.config import load_settings
from simulator import SimConfig
from tests.support.chat import UpstreamMeter, anthropic_env, ask, openai_env
from tests.support.gateway import run_gateway
from tests.support.simulator import RunningSimulator, run_simulator

pytestmark = pytest.mark.anyio

CHEAP, STRONG = "gpt-4o-mini", "gpt-4o"
NO_CACHE = {"cache": "no-cache"}
# No technical keyword anywhere in it, nor across the seam when it is repeated.
CJK_SENTENCE = "我想知道我的包裹什么时候能送到家里"
PLAIN_SENTENCE = "I would like to know more about the wool sweaters in your shop. "
# Six short, keyword-free questions for one session.
THREAD = (
    "Do you ship to Canada?",
    "How much does shipping cost?",
    "Can I return an item?",
    "When will I get my refund?",
    "Which payment methods do you accept?",
    "Can I pay with a gift card?",
)


def cjk_text(chars: int) -> str:
    return (CJK_SENTENCE * (chars // len(CJK_SENTENCE) + 1))[:chars]


def plain_text(chars: int) -> str:
    # Exactly ``chars`` characters with no trailing space (the router strips whitespace).
    text = (PLAIN_SENTENCE * (chars // len(PLAIN_SENTENCE) + 1))[:chars]
    return text[:-1] + "." if text.endswith(" ") else text


def route_of(body: dict[str, Any]) -> tuple[str, str, str]:
    route = body["route"]
    return route["tier"], route["reason"], route["model"]


def prompt_growth(earlier: list[Message], question: str, model: str = CHEAP) -> int:
    """Prompt tokens that ``earlier`` turns add in front of ``question``."""
    now = Message("user", question)
    return count_message_tokens([*earlier, now], model) - count_message_tokens([now], model)


class TestRuleRouting:
    async def test_each_rule_sends_the_question_to_its_tier(
        self, sim: RunningSimulator, http: aiohttp.ClientSession
    ) -> None:
        long_english = plain_text(201)
        assert len(long_english) == len(long_english.strip()) == 201
        short_cjk = cjk_text(100)
        assert len(short_cjk.encode()) == 300  # > 200 bytes, yet only 100 characters
        cases = [
            ("What are your opening hours?", "cheap", "default: simple query"),
            (long_english, "strong", "length 201 > 200 chars"),
            (cjk_text(201), "strong", "length 201 > 200 chars"),
            (short_cjk, "cheap", "default: simple query"),
            ("I get an exception when I deploy", "strong", "technical keyword: exception"),
            ("Why do I see an ERROR at checkout?", "strong", "technical keyword: error"),
            ("发票在哪里配置？", "strong", "technical keyword: 配置"),
            ("付款的时候报错了", "strong", "technical keyword: 报错"),
            ("新版本部署失败怎么办", "strong", "technical keyword: 部署"),
        ]
        async with run_gateway(load_settings(openai_env(sim))) as gw:
            meter = UpstreamMeter(sim)
            for message, tier, reason in cases:
                body = await ask(http, gw.base_url, message, **NO_CACHE)
                model = STRONG if tier == "strong" else CHEAP
                assert route_of(body) == (tier, reason, model), message
                # The simulator answers as the model it was sent, so this is what it received.
                assert body["model"] == model and body["simulated"] is False
                assert meter.delta().requests == {"chat.completions": 1}

            # Turns: the sixth user turn of one session is strong; the same question is
            # cheap outside that thread.
            thread = [
                await ask(http, gw.base_url, q, session_id="thread", **NO_CACHE) for q in THREAD
            ]
            alone = await ask(http, gw.base_url, THREAD[-1], **NO_CACHE)
            assert meter.delta().requests == {"chat.completions": len(THREAD) + 1}
        for body in thread[:5]:
            assert route_of(body) == ("cheap", "default: simple query", CHEAP)
        assert route_of(thread[5]) == ("strong", "turns 6 > 5", STRONG)
        assert thread[5]["model"] == STRONG
        assert route_of(alone) == ("cheap", "default: simple query", CHEAP)

    async def test_settings_change_the_rules_and_the_tier_models(
        self, sim: RunningSimulator, http: aiohttp.ClientSession
    ) -> None:
        # Cheap on the Anthropic wire, strong on the OpenAI wire: the endpoint that the
        # simulator counts shows which model each request really went to.
        env = {
            **openai_env(sim),
            **anthropic_env(sim),
            "FRUGAL_ROUTER_MAX_CHARS": "50",
            "FRUGAL_ROUTER_MAX_TURNS": "1",
            "FRUGAL_ROUTER_KEYWORDS": "banana",
            "FRUGAL_MODELS_CHEAP": "claude-haiku-4-5",
            "FRUGAL_MODELS_STRONG": "gpt-4.1",
            "FRUGAL_MODELS_FALLBACK": "claude-haiku-4-5",
        }
        fifty = plain_text(50)
        assert len(fifty) == len(fifty.strip()) == 50
        cases = [
            ("I get an exception when I deploy", "cheap", "default: simple query"),
            ("Do you sell BANANA phone stands?", "strong", "technical keyword: banana"),
            (fifty, "cheap", "default: simple query"),
            (fifty + "?", "strong", "length 51 > 50 chars"),
        ]
        async with run_gateway(load_settings(env)) as gw:
            meter = UpstreamMeter(sim)
            for message, tier, reason in cases:
                body = await ask(http, gw.base_url, message, **NO_CACHE)
                model, endpoint = (
                    ("gpt-4.1", "chat.completions")
                    if tier == "strong"
                    else ("claude-haiku-4-5", "messages")
                )
                assert route_of(body) == (tier, reason, model), message
                assert body["model"] == model
                assert meter.delta().requests == {endpoint: 1}
            first = await ask(http, gw.base_url, "Hi there", session_id="s", **NO_CACHE)
            second = await ask(http, gw.base_url, "Thanks!", session_id="s", **NO_CACHE)
        assert route_of(first)[:2] == ("cheap", "default: simple query")
        assert route_of(second) == ("strong", "turns 2 > 1", "gpt-4.1")

    async def test_embedding_router_follows_the_nearest_examples(
        self, sim: RunningSimulator, http: aiohttp.ClientSession
    ) -> None:
        technical = "the Docker container keeps restarting after the latest release on Kubernetes"
        simple = "my discount code gives an error at checkout"
        # The vote decides, not the rules: they would route both the other way.
        rules = RuleRouter(cheap_model=CHEAP, strong_model=STRONG)
        assert rules.keyword_rule(technical) is None
        assert rules.keyword_rule(simple) == "technical keyword: error"
        env = {**openai_env(sim), "FRUGAL_ROUTER_KIND": "embedding"}
        async with run_gateway(load_settings(env)) as gw:
            strong = await ask(http, gw.base_url, technical, **NO_CACHE)
            cheap = await ask(http, gw.base_url, simple, **NO_CACHE)
            chinese = await ask(http, gw.base_url, "新版本部署失败怎么办", **NO_CACHE)
        neighbours = r"^embedding: [4-7]/7 neighbours {} \(top: '.+' 0\.\d\d\)$"
        assert strong["route"]["tier"] == "strong" and strong["model"] == STRONG
        assert re.match(neighbours.format("strong"), strong["route"]["reason"]), strong["route"]
        assert cheap["route"]["tier"] == "cheap" and cheap["model"] == CHEAP
        assert re.match(neighbours.format("cheap"), cheap["route"]["reason"]), cheap["route"]
        # MiniLM is English-only: Chinese goes to the rules, and the reason says so.
        assert route_of(chinese) == (
            "strong",
            "embedding: CJK text → rules: technical keyword: 部署",
            STRONG,
        )


class TestHistory:
    async def test_follow_ups_carry_earlier_turns_and_long_threads_get_summarised(
        self, sim: RunningSimulator, http: aiohttp.ClientSession
    ) -> None:
        # The smallest history allowed: more than 2 stored messages triggers a summary.
        env = {**openai_env(sim), "FRUGAL_AGENT_HISTORY_MAX_TURNS": "2"}
        q1, q2, q3 = (
            "How long does shipping take?",
            "Do you ship to Canada?",
            "How much does shipping cost?",
        )
        async with run_gateway(load_settings(env)) as gw:
            # The same questions without a session: the prompt without any history.
            alone2 = await ask(http, gw.base_url, q2, **NO_CACHE)
            alone3 = await ask(http, gw.base_url, q3, **NO_CACHE)
            meter = UpstreamMeter(sim)
            first = await ask(http, gw.base_url, q1, session_id="s", **NO_CACHE)
            after_first = meter.delta()
            second = await ask(http, gw.base_url, q2, session_id="s", **NO_CACHE)
            after_second = meter.delta()
            third = await ask(http, gw.base_url, q3, session_id="s", **NO_CACHE)

        # Turn 1 stores two messages: nothing to summarise yet.
        assert after_first.requests == {"chat.completions": 1}
        assert first["summary_cost_usd_micros"] == 0

        # Turn 2's prompt holds turn 1 verbatim, token for token.
        turn1 = [Message("user", q1), Message("assistant", first["answer"])]
        assert second["usage"]["prompt"] == alone2["usage"]["prompt"] + prompt_growth(turn1, q2)

        # Storing turn 2 exceeds the limit: one more upstream call wrote the summary, and
        # the response prices it from exactly what the simulator billed for it.
        assert after_second.requests == {"chat.completions": 2}
        summary_usage = Usage(
            prompt=after_second.prompt_tokens - second["usage"]["prompt"],
            completion=after_second.completion_tokens - second["usage"]["completion"],
        )
        assert summary_usage.prompt > 0 and summary_usage.completion > 0
        prices = PriceTable()
        summary_cost = prices.cost_usd_micros(CHEAP, summary_usage)
        assert summary_cost is not None and summary_cost > 0
        assert second["summary_cost_usd_micros"] == summary_cost
        answer_cost = prices.cost_usd_micros(CHEAP, Usage(**second["usage"]))
        assert answer_cost is not None
        assert second["cost_usd_micros"] == answer_cost + summary_cost

        # Turn 3: only the latest message stays verbatim; the summary rides in the system
        # prompt, so the prompt is longer than the kept message alone explains.
        kept = [Message("assistant", second["answer"])]
        assert third["usage"]["prompt"] > alone3["usage"]["prompt"] + prompt_growth(kept, q3)


class TestTools:
    async def test_orders_profiles_and_faq_articles_become_sources(
        self, sim: RunningSimulator, http: aiohttp.ClientSession
    ) -> None:
        faq_ids = {entry.id for entry in KnowledgeBase.load_default().entries}
        async with run_gateway(load_settings(openai_env(sim))) as gw:
            meter = UpstreamMeter(sim)
            order = await ask(http, gw.base_url, "Where is my order 1002?", user_id="u-1002")
            again = await ask(http, gw.base_url, "Where is my order 1002?", user_id="u-1002")
            repeat_calls = meter.delta().requests
            faq = await ask(http, gw.base_url, "How do I reset my password?")
            unknown = await ask(http, gw.base_url, "Where is my order 4242?")
            profile = await ask(http, gw.base_url, "Which plan is on my account?", user_id="u-1001")

        def traces(body: dict[str, Any]) -> list[tuple[str, bool, str | None]]:
            return [(t["name"], t["ok"], t["error"]) for t in body["tools"]]

        assert traces(order) == [("kb_search", True, None), ("order_status", True, None)]
        assert "order:1002" in order["sources"]
        assert all(s in faq_ids for s in order["sources"] if s != "order:1002")
        # Order status is realtime data: never stored, so asking again asks the model again.
        assert order["content_class"] == "realtime"
        assert order["cache_diagnostics"]["write"] == "not_stored:realtime"
        assert again["cache"] is None and again["sources"] == order["sources"]
        assert repeat_calls == {"chat.completions": 2}

        assert traces(faq) == [("kb_search", True, None)]
        assert faq["sources"] and set(faq["sources"]) <= faq_ids
        assert faq["sources"][0] == "kb-account-001"  # "Resetting a password"

        # An unknown order is an answer ("not found"), not a tool failure.
        assert traces(unknown) == [("kb_search", True, None), ("order_status", True, None)]
        assert not any(s.startswith("order:") for s in unknown["sources"])

        assert traces(profile) == [("kb_search", True, None), ("user_profile", True, None)]
        assert "user:u-1001" in profile["sources"]

    async def test_a_failing_tool_is_reported_and_the_answer_still_arrives(
        self, sim: RunningSimulator, http: aiohttp.ClientSession
    ) -> None:
        # The models speak Anthropic to `sim`; embeddings come from a second simulator that
        # is stopped mid-test, so kb_search (and the semantic cache) fail, the models do not.
        async with AsyncExitStack() as embeddings_up:
            embed_sim = await embeddings_up.enter_async_context(run_simulator())
            env = {
                **openai_env(embed_sim),
                **anthropic_env(sim),
                "FRUGAL_EMBEDDER_BACKEND": "openai",
                "FRUGAL_EMBEDDER_MODEL": "text-embedding-3-small",
                "FRUGAL_MODELS_CHEAP": "claude-haiku-4-5",
                "FRUGAL_MODELS_STRONG": "claude-haiku-4-5",
                "FRUGAL_MODELS_FALLBACK": "claude-haiku-4-5",
            }
            async with run_gateway(load_settings(env)) as gw:
                healthy = await ask(http, gw.base_url, "How do I reset my password?")
                await embeddings_up.aclose()
                meter = UpstreamMeter(sim)
                degraded = await ask(http, gw.base_url, "How long does shipping take?")
                upstream = meter.delta().requests

        assert [(t["name"], t["ok"]) for t in healthy["tools"]] == [("kb_search", True)]
        [trace] = degraded["tools"]
        assert trace["name"] == "kb_search" and trace["ok"] is False
        assert trace["error"].startswith("EmbeddingError")
        assert degraded["answer"] and "shipping" in degraded["answer"].lower()
        assert degraded["model"] == "claude-haiku-4-5" and degraded["used_fallback"] is False
        assert degraded["sources"] == []
        assert degraded["cache_diagnostics"]["semantic"] == "error:embedding_failed"
        assert upstream == {"messages": 1}


class TestCacheHitLatency:
    async def test_a_repeated_question_is_free_and_faster_than_the_model_call(
        self, http: aiohttp.ClientSession
    ) -> None:
        question = "Which payment methods do you accept?"
        async with (
            run_simulator(SimConfig(ttft_ms=100.0)) as slow,
            run_gateway(load_settings(openai_env(slow))) as gw,
        ):
            miss = await ask(http, gw.base_url, question)
            hit = await ask(http, gw.base_url, question)
        assert miss["cache"] is None and miss["cost_usd_micros"] > 0
        assert miss["latency_ms"]["llm"] >= 90  # the simulator waits 100 ms before answering
        assert hit["cache"] == "exact" and hit["answer"] == miss["answer"]
        assert hit["cost_usd_micros"] == 0
        assert hit["saved_usd_micros"] == miss["cost_usd_micros"]
        assert "llm" not in hit["latency_ms"]
        # The whole hit takes less time than the miss spent waiting for the model alone.
        assert hit["latency_ms"]["total"] < miss["latency_ms"]["llm"]
        assert slow.stats().requests == {"chat.completions": 1}
