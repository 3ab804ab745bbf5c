"""`Agent`: the Answer pipeline, one request end to end (see DESIGN.md, "One request").

validate → history → exact cache → semantic cache → route → tools → prompt → budget reserve
→ LLM (through whatever `LLMClient` it is given, normally a `FallbackClient`) → cost → cache
write and history append → response. `answer` returns a `ChatResponse`; `stream` yields
`Meta`, `Token`…, then `Done` or `Error`.

The caches are read before routing, so a hit costs no router work; their key therefore names
the requested model (``auto`` or the explicit one) instead of the tier, which is sound because
the router is a deterministic function of the conversation it keys on.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import AsyncGenerator, Sequence

import anyio

from agent.base import LLMClient
from agent.core.clock import StageClock
from agent.history import ConversationHistory, HistoryRecord
from agent.pipeline.answer_cache import AnswerCache, CacheRead, CacheScope, Invalidation
from agent.pipeline.costing import BudgetHook, CostModel, NoBudget, bill, routing_savings
from agent.pipeline.planner import DEFAULT_PROFILE_KEYWORDS, ToolPlan, ToolPlanner
from agent.pipeline.prompt import DEFAULT_SYSTEM_PROMPT, assemble_prompt, stable_prefix
from agent.pipeline.request import AUTO_MODEL, ChatRequest, RequestLimits, validate_request
from agent.pipeline.response import (
    ChatResponse,
    RouteInfo,
    StreamEvent,
    StreamOutcome,
)
from agent.pipeline.run import Iterations, Run
from agent.pipeline.shaping import cache_route, diagnostics, sources_and_tags, tool_traces
from agent.pipeline.streaming import stream_events
from agent.tokens import count_message_tokens
from agent.tools.base import ToolRegistry, ToolResult
from agent.tools.fanout import run_tools_concurrently
from agent.types import LLMRequest, Message, Usage
from cache.keys import DEFAULT_TTL_BY_CLASS
from cache.prompt_cache import CachedAnswer, PromptCache
from cache.semantic_cache import SemanticCache
from router.base import Router

_log = logging.getLogger(__name__)

NO_TOOLS = ToolPlan(calls=(), personal=False)

# Settling the budget and saving history must finish even when the caller is cancelled.
_CLEANUP_GRACE_S = 5.0


class Agent:
    """Answers chat requests; every collaborator is passed in (see `server` for the wiring).

    ``llm`` answers (wrap providers in a `FallbackClient` for retries and fallback; the
    history summariser should use the same client). ``costs`` prices usage; ``budget`` holds
    and settles money per request. ``tools`` defaults to none, ``history`` to stateless.
    ``max_iterations`` caps tool and LLM rounds per request (one of each today).
    ``limits.max_completion_tokens`` caps every answer: it is sent upstream as ``max_tokens``
    when a request sets none, so the budget reservation made from it is a true worst case.
    Cache hits are replayed to streams ``replay_tokens_per_event`` words at a time, without
    sleeping.
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
        history: ConversationHistory | None = None,
        budget: BudgetHook | None = None,
        system_prompt: str = DEFAULT_SYSTEM_PROMPT,
        limits: RequestLimits | None = None,
        max_iterations: int = 4,
        semantic_max_turns: int = 1,
        faq_min_score: float = 0.5,
        cache_nonzero_temperature: bool = False,
        profile_keywords: Sequence[str] = DEFAULT_PROFILE_KEYWORDS,
        replay_tokens_per_event: int = 4,
    ) -> None:
        if max_iterations < 1:
            raise ValueError("max_iterations must be at least 1 (the model call)")
        self.llm = llm
        self._router = router
        self.cheap_model = cheap_model
        self.strong_model = strong_model
        self._costs = costs
        self._tools = tools or ToolRegistry(())
        self._history = history
        self._budget: BudgetHook = budget or NoBudget()
        self._limits = limits or RequestLimits()
        self._max_iterations = max_iterations
        self.replay_words = max(replay_tokens_per_event, 1)
        self._planner = ToolPlanner(self._tools, profile_keywords=profile_keywords)
        self._prefix = stable_prefix(system_prompt, self._tools)
        nonzero = (
            prompt_cache.cache_nonzero_temperature if prompt_cache else cache_nonzero_temperature
        )
        self._cache = AnswerCache(
            prompt_cache,
            semantic_cache,
            semantic_max_turns=semantic_max_turns,
            faq_min_score=faq_min_score,
            ttl_by_class=DEFAULT_TTL_BY_CLASS,
            cache_nonzero_temperature=nonzero,
        )

    async def answer(self, request: ChatRequest) -> ChatResponse:
        """Answer ``request`` in one piece.

        Raises `InvalidRequest`, `BudgetExceeded`, or the `ProviderError` left after retries
        and fallback. Cache and history trouble never fail a request.
        """
        run = await self.begin(request)
        try:
            read = await self.read_cache(run)
            if read.answer is not None:
                return await self.cached_response(run, read.answer, read)
            route = await self.choose_route(run)
            results = await self.gather_tools(run)
            llm_request = self.llm_request(run, route, results)
            await self.reserve(run, llm_request)
            run.iterations.spend("the model call")
            with run.clock.stage("llm"):
                response = await self.llm.generate(llm_request)
            self.charge(run, response.model, response.usage)
            saved = self.savings(run, route)
            sources, tags = sources_and_tags(results)
            content_class, write = await self.remember(
                run, response.text, response.model, results, response.used_fallback, sources, tags
            )
            await self.settle(run)
            return ChatResponse(
                answer=response.text,
                sources=sources,
                model=response.model,
                simulated=response.simulated,
                route=route,
                cache=None,
                used_fallback=response.used_fallback,
                fallback_reason=response.fallback_reason,
                usage=run.usage,
                cost_usd_micros=(run.bill + run.summary_bill).usd_micros,
                cost_known=(run.bill + run.summary_bill).known,
                saved_usd_micros=saved,
                summary_cost_usd_micros=run.summary_bill.usd_micros,
                latency_ms=run.clock.snapshot(),
                request_id=run.request_id,
                content_class=content_class,
                tools=tool_traces(results),
                cache_diagnostics=diagnostics(read, write),
                finish_reason=response.finish_reason or "stop",
            )
        finally:
            await self.settle_on_exit(run)

    def stream(
        self, request: ChatRequest, *, outcome: StreamOutcome | None = None
    ) -> AsyncGenerator[StreamEvent, None]:
        """Yield `Meta`, then `Token`s as they arrive, then `Done` (or `Error`).

        `InvalidRequest` and `BudgetExceeded` are raised before the first event; every later
        failure becomes an `Error` event. Stopping the iteration (``aclose``) or cancelling
        the consumer closes the upstream call; the tokens produced so far are billed and
        reported in ``outcome``. Consume it inside ``contextlib.aclosing``.
        """
        return stream_events(self, request, outcome if outcome is not None else StreamOutcome())

    async def invalidate_tag(self, tag: str) -> Invalidation:
        """Drop every cached answer built on knowledge-base document ``tag``."""
        return await self._cache.invalidate_tag(tag)

    async def forget(self, request: ChatRequest) -> Invalidation:
        """Drop the cached answer this (stateless) request would be served from."""
        validate_request(request, self._limits, count_model=self.cheap_model)
        _, _, scope = self._scope(request, HistoryRecord())
        return await self._cache.forget(scope)

    # -- stages -------------------------------------------------------------------------

    async def begin(self, request: ChatRequest) -> Run:
        clock = StageClock()
        count_model = self.cheap_model if request.model == AUTO_MODEL else request.model
        with clock.stage("validate"):
            validate_request(request, self._limits, count_model=count_model)
        history = HistoryRecord()
        if self._history is not None and request.session_id:
            with clock.stage("history"):
                history = await self._history.load(request.session_id, tenant=request.tenant)
        conversation, plan, scope = self._scope(request, history)
        return Run(
            request_id=secrets.token_hex(16),  # 128 random bits, as uuid4 but cheaper
            request=request,
            clock=clock,
            iterations=Iterations(self._max_iterations),
            history=history,
            conversation=conversation,
            plan=plan,
            scope=scope,
        )

    def _scope(
        self, request: ChatRequest, history: HistoryRecord
    ) -> tuple[tuple[Message, ...], ToolPlan, CacheScope]:
        conversation = history.messages + request.messages
        plan = (
            self._planner.plan(request.messages[-1].content, request.user_id)
            if request.use_tools
            else NO_TOOLS
        )
        system = self._prefix if not history.summary else f"{self._prefix}\n\n{history.summary}"
        tier_key = request.model
        if request.max_tokens is not None:
            tier_key += f"|max_tokens={request.max_tokens}"
        scope = self._cache.scope(
            mode=request.cache,
            temperature=request.temperature,
            tenant=request.tenant,
            tier_key=tier_key,
            conversation=conversation,
            system=system,
            tools=plan.tool_names,
            user_id=request.user_id,
            personal=plan.personal,
        )
        return conversation, plan, scope

    async def read_cache(self, run: Run) -> CacheRead:
        with run.clock.stage("cache"):
            return await self._cache.read(run.scope)

    async def choose_route(self, run: Run) -> RouteInfo:
        with run.clock.stage("route"):
            model = run.request.model
            if model != AUTO_MODEL:
                tier = {self.cheap_model: "cheap", self.strong_model: "strong"}.get(model)
                return RouteInfo(tier or "explicit", "explicit model", model)
            decision = await self._router.route(
                run.conversation, earlier_turns=run.history.summarized_user_turns
            )
            return RouteInfo(decision.tier, decision.reason, decision.model)

    async def gather_tools(self, run: Run) -> list[ToolResult]:
        # One round of tools, and only if a round is left for the model call after it.
        if not run.plan.calls or run.iterations.remaining < 2:
            return []
        run.iterations.spend("the tool round")
        with run.clock.stage("tools"):
            return await run_tools_concurrently(self._tools, run.plan.calls)

    def llm_request(self, run: Run, route: RouteInfo, results: list[ToolResult]) -> LLMRequest:
        with run.clock.stage("prompt"):
            system, messages = assemble_prompt(
                self._prefix,
                conversation=run.conversation,
                tool_results=results,
                summary=run.history.summary,
            )
        return LLMRequest(
            model=route.model,
            messages=messages,
            system=system,
            max_tokens=self._completion_cap(run.request),
            temperature=run.request.temperature,
            user=run.request.user_id,
        )

    async def remember(
        self,
        run: Run,
        text: str,
        model: str,
        results: list[ToolResult],
        used_fallback: bool,
        sources: list[str],
        tags: list[str],
    ) -> tuple[str, str]:
        """Write the caches and the history; return (content class, write diagnostic)."""
        with run.clock.stage("write"):
            content_class = self._cache.classify(results, used_fallback=used_fallback)
            answer = CachedAnswer(
                answer=text,
                model=model,
                created_at=0.0,
                usage=run.usage,
                cost_usd_micros=run.bill.usd_micros,
                sources=sources,
            )
            write = await self._cache.write(
                run.scope, answer, content_class=content_class, tags=tags
            )
            await self._append_history(run, text)
        return content_class, write

    async def cached_response(
        self, run: Run, cached: CachedAnswer, read: CacheRead
    ) -> ChatResponse:
        with run.clock.stage("write"):
            await self._append_history(run, cached.answer)
        await self.settle(run)
        return ChatResponse(
            answer=cached.answer,
            sources=list(cached.sources),
            model=cached.model,
            simulated=False,
            route=cache_route(read),
            cache=read.source,
            used_fallback=False,
            fallback_reason=None,
            usage=Usage(),
            cost_usd_micros=run.summary_bill.usd_micros,
            cost_known=run.summary_bill.known,
            saved_usd_micros=cached.cost_usd_micros,
            summary_cost_usd_micros=run.summary_bill.usd_micros,
            latency_ms=run.clock.snapshot(),
            request_id=run.request_id,
            content_class=cached.content_class,
            cache_diagnostics=diagnostics(read, "skipped:hit"),
        )

    async def _append_history(self, run: Run, answer: str) -> None:
        request = run.request
        if self._history is None or not request.session_id:
            return
        turns = [m for m in request.messages if m.role != "system"]
        turns.append(Message("assistant", answer))
        compaction = await self._history.append(
            request.session_id, turns, tenant=request.tenant, base=run.history
        )
        if compaction is not None:
            run.summary_usage = compaction.usage
            run.summary_bill = bill(self._costs, compaction.model, compaction.usage)

    def _completion_cap(self, request: ChatRequest) -> int:
        return request.max_tokens or self._limits.max_completion_tokens

    # -- money --------------------------------------------------------------------------

    def charge(self, run: Run, model: str, usage: Usage) -> None:
        run.usage = usage
        run.bill = bill(self._costs, model, usage)

    def savings(self, run: Run, route: RouteInfo) -> int:
        if run.request.model != AUTO_MODEL or route.tier != "cheap":
            return 0
        return routing_savings(self._costs, self.strong_model, run.bill, run.usage)

    async def reserve(self, run: Run, llm_request: LLMRequest) -> None:
        """Hold the worst case of ``llm_request`` (its whole assembled prompt at the input
        price plus its ``max_tokens`` at the output price, on the dearer of its model and the
        strong one, in case of fallback); raises `BudgetExceeded`. Cache hits never get here,
        so a spent budget still serves them."""
        if isinstance(self._budget, NoBudget):
            return  # nothing to hold: skip counting the prompt on the hot path
        with run.clock.stage("budget"):
            prompt = count_message_tokens(
                llm_request.messages, llm_request.model, system=llm_request.system
            )
            worst_usage = Usage(prompt=prompt, completion=self._completion_cap(run.request))
            prices = (
                self._costs.cost_usd_micros(model, worst_usage)
                for model in {llm_request.model, self.strong_model}
            )
            worst = max((p for p in prices if p is not None), default=0)
            run.reservation = await self._budget.reserve(run.request, worst)

    async def settle(self, run: Run) -> None:
        if run.settled:
            return
        run.settled = True
        if run.reservation is not None:
            await self._budget.settle(run.reservation, (run.bill + run.summary_bill).usd_micros)

    async def settle_on_exit(self, run: Run) -> None:
        if run.settled:
            return
        with anyio.move_on_after(_CLEANUP_GRACE_S, shield=True):
            await self.settle(run)
