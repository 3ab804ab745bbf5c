"""`ModelJudge`: a small model asked whether a cached answer answers a new question.

The semantic cache's verifier (`cache.verified_hits.Verifier`) for its gray zone. Each
question is one provider call through the core's `ProviderCall`: held against the tenant's
budget like any other call (a refused hold is a verifier error, so the lookup misses), billed
on what the provider reported, and recorded as its own call (tier ``verify``) in the tenant's
costs. The judge sees the new question, the question the answer was stored for, and the
answer's first `_ANSWER_CHARS` characters; it must reply ``yes`` or ``no`` (one token).
"""

from __future__ import annotations

import secrets
from collections.abc import Awaitable, Callable

import msgspec

from agent.core.call import ProviderCall
from agent.core.clock import StageClock
from agent.types import LLMRequest, Message
from cache.prompt_cache import CachedAnswer
from cache.semantic_backend import SemanticEntry
from metrics.cost_tracker import CallRecord

VERIFY_TIER = "verify"
_ANSWER_CHARS = 2_000
_INSTRUCTIONS = (
    "You check a cache. Reply with exactly one word: yes if the cached answer is a correct and "
    "complete answer to the new question (it asks the same thing, with the same entities, "
    "numbers, direction and negation), otherwise no."
)
_decoder = msgspec.json.Decoder(CachedAnswer)


class _Owner(msgspec.Struct, frozen=True):
    tenant: str


class JudgeAnswerUnclear(RuntimeError):
    """The judge replied something other than yes or no."""


class ModelJudge:
    """Asks ``model`` through ``call``; ``record`` books each call's cost (the tracker's)."""

    def __init__(
        self,
        call: ProviderCall,
        model: str,
        record: Callable[[CallRecord], Awaitable[None]],
    ) -> None:
        self._call = call
        self.model = model
        self._record = record

    async def verify(self, question: str, entry: SemanticEntry, *, tenant: str) -> bool:
        """True when the judge says ``yes``; raises on ``BudgetExceeded``, a provider error or
        an unclear reply."""
        answer = _decoder.decode(entry.payload).answer[:_ANSWER_CHARS]
        prompt = (
            f"New question: {question}\n"
            f"Cached question: {entry.query}\n"
            f"Cached answer: {answer}\n"
            "Is the cached answer right for the new question? yes or no"
        )
        request = LLMRequest(
            model=self.model,
            messages=(Message("user", prompt),),
            system=_INSTRUCTIONS,
            max_tokens=1,
            temperature=0.0,
        )
        clock = StageClock()
        async with self._call.hold(
            _Owner(tenant),
            request,
            models={self.model},
            completion_tokens=1,
            clock=clock,
            hold_id=f"verify-{secrets.token_hex(8)}",
        ) as billing:
            response = await self._call.generate(billing, request)
            charged = billing.charge()  # the hold settles on the way out
        await self._record(
            CallRecord(
                model=billing.model,
                tier=VERIFY_TIER,
                tenant=tenant,
                usage=billing.usage,
                cost_usd_micros=charged.usd_micros,
                cost_known=charged.known,
                latency_ms=billing.upstream_ms,
            )
        )
        reply = response.text.strip().lower()
        if reply.startswith("yes"):
            return True
        if reply.startswith("no"):
            return False
        raise JudgeAnswerUnclear(f"the judge replied {reply[:40]!r}, not yes or no")
