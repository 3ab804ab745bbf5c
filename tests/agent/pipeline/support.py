"""Builders shared by the pipeline tests: a deterministic embedder, tools, and an Agent."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from agent.base import LLMClient
from agent.history import ConversationHistory
from agent.knowledge import KnowledgeBase
from agent.pipeline import Agent, BudgetHook, ChatRequest, Reservation
from agent.simulated import SimulatedClient
from agent.simulation import Pace
from agent.tools import (
    DemoAccounts,
    KnowledgeBaseSearchTool,
    KnowledgeIndex,
    OrderStatusTool,
    ToolRegistry,
    UserProfileTool,
)
from agent.types import Message
from cache.keys import DEFAULT_TTL_BY_CLASS
from cache.memory import MemoryTTLStore
from cache.prompt_cache import PromptCache
from cache.semantic_cache import SemanticCache
from metrics.pricing import PriceTable
from router.rules import RuleRouter

CHEAP = "gpt-4o-mini"
STRONG = "gpt-4o"
INSTANT = Pace(0.0, 0.0)

# "not" counts as a stop word on purpose: real sentence embeddings barely see negation
# (MiniLM scores "cancel" vs "not cancel" ~0.98), and the guards must catch it anyway.
_STOP = frozenset(
    (
        "how", "do", "does", "can", "could", "i", "my", "me", "the", "a", "an", "is", "are",
        "what", "why", "was", "to", "not", "when", "will",
    )
)  # fmt: skip


class HashingEmbedder:
    """Bag of words hashed to signed axes: paraphrases differing in stop words score 1.0."""

    name = "hashing-bow"
    dim = 128

    async def embed(self, texts: Sequence[str]) -> npt.NDArray[np.float32]:
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for row, text in enumerate(texts):
            for word in re.findall(r"[a-z0-9]+", text.lower()):
                if word in _STOP:
                    continue
                digest = hashlib.blake2b(word.encode(), digest_size=8).digest()
                out[row, digest[0] % self.dim] += 1.0 if digest[1] % 2 else -1.0
            norm = np.linalg.norm(out[row])
            out[row] = out[row] / norm if norm else np.eye(self.dim, dtype=np.float32)[0]
        return out


class RecordingBudget:
    """A `BudgetHook` that records reservations and settlements, refusing above ``limit``."""

    def __init__(self, limit: int | None = None) -> None:
        self.limit = limit
        self.reserved: list[int] = []
        self.settled: list[int] = []

    async def reserve(
        self, request: ChatRequest, worst_case_usd_micros: int, *, hold_id: str = ""
    ) -> Reservation:
        from agent.errors import BudgetExceeded

        if self.limit is not None and worst_case_usd_micros > self.limit:
            raise BudgetExceeded(f"needs {worst_case_usd_micros}, limit {self.limit}")
        self.reserved.append(worst_case_usd_micros)
        return Reservation(worst_case_usd_micros, token=str(len(self.reserved)))

    async def settle(self, reservation: Reservation, actual_usd_micros: int) -> None:
        self.settled.append(actual_usd_micros)

    def output_tokens(self, model: str, cap: int) -> int:
        return cap

    def observe_output(self, model: str, tokens: int) -> None:
        pass


async def build_registry(*, tool_latency_s: float = 0.0) -> ToolRegistry:
    embedder = HashingEmbedder()
    index = await KnowledgeIndex.build(KnowledgeBase.load_default(), embedder)
    accounts = DemoAccounts.load_default()
    return ToolRegistry(
        [
            KnowledgeBaseSearchTool(index, min_score=0.2),
            OrderStatusTool(accounts, latency_s=tool_latency_s),
            UserProfileTool(accounts, latency_s=tool_latency_s),
        ],
        allowed_risky=["user_profile"],
    )


def fast_sim(pace: Pace = INSTANT) -> SimulatedClient:
    return SimulatedClient({CHEAP: pace, STRONG: pace}, default=pace)


def make_agent(
    registry: ToolRegistry,
    *,
    llm: LLMClient | None = None,
    semantic: bool = True,
    exact: bool = True,
    ttl_overrides: dict[str, float] | None = None,
    history: ConversationHistory | None = None,
    prompt_cache: PromptCache | None = None,
    budget: BudgetHook | None = None,
    **kwargs: Any,
) -> Agent:
    ttls = dict(DEFAULT_TTL_BY_CLASS) | (ttl_overrides or {})
    return Agent(
        llm=llm or fast_sim(),
        router=RuleRouter(cheap_model=CHEAP, strong_model=STRONG),
        cheap_model=CHEAP,
        strong_model=STRONG,
        costs=PriceTable(),
        tools=registry,
        prompt_cache=prompt_cache
        or (PromptCache(MemoryTTLStore(), ttl_by_class=ttls) if exact else None),
        semantic_cache=SemanticCache(HashingEmbedder(), threshold=0.9) if semantic else None,
        history=history,
        budget=budget,
        **kwargs,
    )


def ask(text: str, **fields: Any) -> ChatRequest:
    return ChatRequest(messages=(Message("user", text),), **fields)


def _fresh_prompt_cache(ttls: dict[str, float]) -> PromptCache:
    return PromptCache(MemoryTTLStore(), ttl_by_class=ttls)
