"""`Agent`: the Answer pipeline's face (see DESIGN.md, "One request").

A turn runs once, as one sequence of events (`agent.pipeline.turn.run_turn`): `stream`
yields them, and `answer` drains them into a `ChatResponse`, so answers and streams share
every stage. The model call goes through the completion core's `ProviderCall` (budget hold,
provider with fallback, exact billing), the same stage the wire endpoints use.

The caches are read before routing, so a hit costs no router work; their key therefore names
the requested model (``auto`` or the explicit one) instead of the tier, which is sound because
the router is a deterministic function of the conversation it keys on.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, Callable, Sequence
from contextlib import aclosing

import msgspec

from agent.base import LLMClient
from agent.core.call import ProviderCall
from agent.core.costing import BudgetHook, CostModel
from agent.guard import Guard
from agent.history import ConversationHistory
from agent.pipeline.answer_cache import AnswerCache, Invalidation
from agent.pipeline.finish import TurnDeps
from agent.pipeline.guarding import restore_tokens
from agent.pipeline.planner import DEFAULT_PROFILE_KEYWORDS, ToolPlanner
from agent.pipeline.profile import AgentProfile
from agent.pipeline.prompt import DEFAULT_SYSTEM_PROMPT, stable_prefix
from agent.pipeline.request import ChatRequest, RequestLimits
from agent.pipeline.response import (
    ChatResponse,
    Done,
    Error,
    Meta,
    StreamEvent,
    StreamOutcome,
    Token,
)
from agent.pipeline.turn import begin, run_turn
from agent.tools.base import ToolRegistry
from cache.keys import DEFAULT_TTL_BY_CLASS
from cache.prompt_cache import PromptCache
from cache.semantic_cache import SemanticCache
from router.base import Router


class Agent:
    """Answers chat requests; every collaborator is passed in (see `server` for the wiring).

    ``llm`` answers (wrap providers in a `FallbackClient` for retries and fallback; the
    history summariser should use the same client). ``costs`` prices usage; ``budget`` holds
    and settles money per request. ``tools`` defaults to none, ``history`` to stateless.
    ``hold_models_for(model)`` names every model a call may end up on (its fallback chain),
    so the budget hold covers the dearest. ``answer_cache`` is the turn-level cache policy
    over the exact and semantic caches (built from ``prompt_cache`` and ``semantic_cache``
    when not given). ``max_iterations`` caps tool
    and LLM rounds per request. ``limits.max_completion_tokens`` caps every answer: it is sent
    upstream as ``max_tokens`` when a request sets none, so the budget hold is a true worst
    case. Cache hits are replayed to streams ``replay_tokens_per_event`` words at a time.
    ``profile`` names the configured agent this is (its cache partition, planner, model
    policy and tool limits; see `AgentProfile`). ``simulated``: the provider is the simulated
    one, so answers replayed from the cache say ``simulated`` as fresh ones do.
    """

    def __init__(
        self,
        *,
        llm: LLMClient,
        router: Router,
        cheap_model: str,
        strong_model: str,
        costs: CostModel,
        tools: ToolRegistry | None = None,
        prompt_cache: PromptCache | None = None,
        semantic_cache: SemanticCache | None = None,
        answer_cache: AnswerCache | None = None,
        history: ConversationHistory | None = None,
        budget: BudgetHook | None = None,
        call: ProviderCall | None = None,
        hold_models_for: Callable[[str], set[str]] | None = None,
        system_prompt: str = DEFAULT_SYSTEM_PROMPT,
        limits: RequestLimits | None = None,
        max_iterations: int = 4,
        semantic_max_turns: int = 1,
        faq_min_score: float = 0.5,
        cache_nonzero_temperature: bool = False,
        profile_keywords: Sequence[str] = DEFAULT_PROFILE_KEYWORDS,
        replay_tokens_per_event: int = 4,
        profile: AgentProfile | None = None,
        guard: Guard | None = None,
        simulated: bool = False,
    ) -> None:
        if max_iterations < 1:
            raise ValueError("max_iterations must be at least 1 (the model call)")
        self.llm = llm
        self.cheap_model = cheap_model
        self.strong_model = strong_model
        registry = tools or ToolRegistry(())
        self.profile = profile or AgentProfile()
        nonzero = (
            prompt_cache.cache_nonzero_temperature if prompt_cache else cache_nonzero_temperature
        )
        self._deps = TurnDeps(
            call=call or ProviderCall(llm=llm, costs=costs, budget=budget),
            router=router,
            costs=costs,
            cheap_model=cheap_model,
            strong_model=strong_model,
            tools=registry,
            planner=ToolPlanner(registry, profile_keywords=profile_keywords),
            cache=answer_cache
            or AnswerCache(
                prompt_cache,
                semantic_cache,
                semantic_max_turns=semantic_max_turns,
                faq_min_score=faq_min_score,
                ttl_by_class=DEFAULT_TTL_BY_CLASS,
                cache_nonzero_temperature=nonzero,
            ),
            history=history,
            limits=limits or RequestLimits(),
            # The model-driven planner offers the tools with their schemas instead.
            prefix=stable_prefix(
                system_prompt, registry if self.profile.planner == "rules" else ToolRegistry(())
            ),
            max_iterations=max_iterations,
            replay_words=max(replay_tokens_per_event, 1),
            reachable=hold_models_for,
            profile=self.profile,
            guard=guard,
            simulated=simulated,
        )

    async def answer(
        self, request: ChatRequest, *, outcome: StreamOutcome | None = None
    ) -> ChatResponse:
        """Answer ``request`` in one piece: the turn's events, drained.

        Raises `InvalidRequest`, `BudgetExceeded`, or the `ProviderError` left after retries
        and fallback. Cache and history trouble never fail a request. ``outcome`` (optional)
        receives what `stream` reports, e.g. the guard's ``headers``.
        """
        outcome = outcome if outcome is not None else StreamOutcome()
        meta: Meta | None = None
        parts: list[str] = []
        done: Done | None = None
        events = self._events(request, outcome, raise_errors=True)
        async with aclosing(events):
            async for event in events:
                match event:
                    case Meta():
                        meta = outcome.meta = event
                    case Token(text=text):
                        parts.append(text)
                    case Done():
                        done = event
                    case Error():  # pragma: no cover - raise_errors turns these into raises
                        raise RuntimeError(event.message)
                    case _:  # tool calls and results are reported in ``tools`` and ``calls``
                        pass
        if meta is None or done is None:
            raise RuntimeError("the turn ended without an answer")
        return ChatResponse(
            answer="".join(parts),
            sources=done.sources,
            model=done.model,
            simulated=done.simulated,
            route=meta.route,
            cache=meta.cache,
            used_fallback=done.used_fallback,
            fallback_reason=done.fallback_reason,
            usage=done.usage,
            cost_usd_micros=done.cost_usd_micros,
            cost_known=done.cost_known,
            saved_usd_micros=done.saved_usd_micros,
            summary_cost_usd_micros=done.summary_cost_usd_micros,
            latency_ms=done.latency_ms,
            request_id=done.request_id,
            content_class=outcome.content_class,
            tools=outcome.tools,
            cache_diagnostics=done.cache_diagnostics,
            finish_reason=done.finish_reason,
            agent=done.agent,
            calls=done.calls,
            variant=done.variant,
        )

    def stream(
        self, request: ChatRequest, *, outcome: StreamOutcome | None = None
    ) -> AsyncGenerator[StreamEvent, None]:
        """Yield `Meta`, then `Token`s as they arrive, then `Done` (or `Error`).

        `InvalidRequest` and `BudgetExceeded` are raised before the first event; every later
        failure becomes an `Error` event. Stopping the iteration (``aclose``) or cancelling
        the consumer closes the upstream call; the tokens produced so far are billed and
        reported in ``outcome``. Consume it inside ``contextlib.aclosing``.
        """
        return self._events(request, outcome if outcome is not None else StreamOutcome())

    def _events(
        self, request: ChatRequest, outcome: StreamOutcome, *, raise_errors: bool = False
    ) -> AsyncGenerator[StreamEvent, None]:
        guard = self._deps.guard
        session = guard.session() if guard is not None else None
        events = run_turn(self._deps, request, outcome, raise_errors=raise_errors, guard=session)
        if session is None or not session.policy.reversible:
            return events
        return restore_tokens(session, events)

    async def invalidate_tag(self, tag: str) -> Invalidation:
        """Drop every cached answer built on knowledge-base document ``tag``."""
        return await self._deps.cache.invalidate_tag(tag)

    async def forget(self, request: ChatRequest) -> Invalidation:
        """Drop the cached answer this (stateless) request would be served from."""
        guard = self._deps.guard
        session = guard.session() if guard is not None else None  # the key is on redacted text
        turn = await begin(self._deps, msgspec.structs.replace(request, session_id=None), session)
        return await self._deps.cache.forget(turn.scope)
