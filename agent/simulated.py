"""`SimulatedClient`: an in-process `LLMClient` that answers from the knowledge base.

Used when no provider is configured and in tests that don't need the wire. Answers, pacing
and token counts come from `agent.simulation`, the same core the HTTP simulator uses.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping

from agent.errors import BadRequest
from agent.knowledge import KnowledgeBase
from agent.simulation import Pace, PlannedAnswer, paced, plan_answer, prompt_tokens
from agent.types import LLMRequest, LLMResponse, StreamChunk, Usage

# Typical observed speeds: small models start sooner and stream faster.
CHEAP_PACE = Pace(ttft_s=0.12, tokens_per_s=180.0)
STRONG_PACE = Pace(ttft_s=0.35, tokens_per_s=70.0)


def tier_paces(cheap_model: str, strong_model: str) -> dict[str, Pace]:
    """Paces keyed by model name: the cheap model quicker than the strong one."""
    return {cheap_model: CHEAP_PACE, strong_model: STRONG_PACE}


class SimulatedClient:
    """An `LLMClient` with no network: deterministic KB answers at a per-model pace.

    ``paces`` maps model names to their `Pace`; other models use ``default``. Every response
    and chunk is marked ``simulated=True`` and usage counts are real tokenizer counts.
    """

    def __init__(
        self,
        paces: Mapping[str, Pace] | None = None,
        *,
        default: Pace = STRONG_PACE,
        knowledge: KnowledgeBase | None = None,
    ) -> None:
        self._paces = dict(paces or {})
        self._default = default
        self._knowledge = knowledge or KnowledgeBase.load_default()

    @property
    def name(self) -> str:
        """Always ``simulated``."""
        return "simulated"

    def pace_for(self, model: str) -> Pace:
        """The pace used for ``model``."""
        return self._paces.get(model, self._default)

    async def generate(self, request: LLMRequest) -> LLMResponse:
        """The whole answer, after the time streaming it would have taken.

        Raises `BadRequest` when ``max_tokens`` is below 1.
        """
        plan = self._plan(request)
        async for _ in paced(plan.pieces, self.pace_for(request.model)):
            pass
        return LLMResponse(
            text=plan.text,
            model=request.model,
            usage=self._usage(request, plan.completion_tokens),
            provider=self.name,
            finish_reason=plan.finish_reason,
            simulated=True,
        )

    async def stream(self, request: LLMRequest) -> AsyncIterator[StreamChunk]:
        """One chunk per token, ``finish_reason`` on the last, then a usage-only chunk.

        Raises `BadRequest` when ``max_tokens`` is below 1.
        """
        plan = self._plan(request)
        last = len(plan.pieces) - 1
        index = -1
        async for index, piece in _enumerate(paced(plan.pieces, self.pace_for(request.model))):
            yield StreamChunk(
                text=piece,
                model=request.model,
                finish_reason=plan.finish_reason if index == last else None,
                simulated=True,
            )
        yield StreamChunk(
            model=request.model,
            usage=self._usage(request, index + 1),
            finish_reason=plan.finish_reason if last < 0 else None,
            simulated=True,
        )

    def _plan(self, request: LLMRequest) -> PlannedAnswer:
        if request.max_tokens is not None and request.max_tokens < 1:
            raise BadRequest("max_tokens must be at least 1", provider=self.name, status=400)
        return plan_answer(
            request.messages,
            request.model,
            max_tokens=request.max_tokens,
            knowledge=self._knowledge,
        )

    def _usage(self, request: LLMRequest, completion: int) -> Usage:
        prompt = prompt_tokens(request.messages, request.model, request.system)
        return Usage(prompt=prompt, completion=completion)


async def _enumerate(pieces: AsyncIterator[str]) -> AsyncIterator[tuple[int, str]]:
    index = 0
    async for piece in pieces:
        yield index, piece
        index += 1
