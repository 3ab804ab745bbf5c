"""`run_turn`: one Agent turn as one sequence of events, for answers and streams alike.

validate → history → answer cache → route → tools → prompt → the provider call through the
core's `ProviderCall` (hold, call with fallback, exact billing, settle) → cache write and
history append. Each stage takes what the previous one produced and hands its result on;
`Agent.stream` yields these events and `Agent.answer` drains them into one `ChatResponse`.
"""

from __future__ import annotations

import secrets
from collections.abc import AsyncGenerator
from contextlib import aclosing

import anyio
import msgspec

from agent.core.call import Billing
from agent.core.clock import StageClock
from agent.core.replay import replay_pieces
from agent.errors import AgentError
from agent.guard import GuardSession, guard_chunks
from agent.history import HistoryRecord
from agent.pipeline.answer_cache import CacheRead
from agent.pipeline.finish import (
    TurnDeps,
    append_history,
    charge_tool_calls,
    failed,
    finish,
    report,
)
from agent.pipeline.guarding import guard_tool_results, guard_turn
from agent.pipeline.planner import ToolPlan
from agent.pipeline.prompt import assemble_prompt
from agent.pipeline.request import AUTO_MODEL, ChatRequest, validate_request
from agent.pipeline.response import Done, Meta, RouteInfo, StreamEvent, StreamOutcome, Token
from agent.pipeline.run import Iterations, Run
from agent.pipeline.shaping import cache_route, diagnostics
from agent.pipeline.tool_loop import offers_personal, run_model_turn
from agent.tools.base import ToolResult
from agent.tools.fanout import run_tools_concurrently
from agent.tracing import span
from agent.types import LLMRequest
from cache.prompt_cache import CachedAnswer

__all__ = ["TurnDeps", "begin", "run_turn"]

NO_TOOLS = ToolPlan(calls=(), personal=False)


async def run_turn(
    deps: TurnDeps,
    request: ChatRequest,
    outcome: StreamOutcome,
    *,
    raise_errors: bool = False,
    guard: GuardSession | None = None,
) -> AsyncGenerator[StreamEvent, None]:
    """Yield `Meta`, `Token`…, then `Done` (or `Error`).

    Failures before `Meta` (invalid request, budget refusal, a tool round that cannot run)
    are raised. Later ones become an `Error` event, or are raised with ``raise_errors``.
    However the turn ends, what was produced is billed once and reported in ``outcome``.
    ``guard`` is the request's guard session (its headers go to ``outcome.headers``).
    """
    turn = await begin(deps, request, guard)
    if guard is not None:
        outcome.headers.update(guard.headers())
    read = await read_cache(deps, turn)
    if read.answer is not None:
        async for event in replay(deps, turn, read, read.answer, outcome):
            yield event
        return
    route = await choose_route(deps, turn)
    if deps.profile.planner == "model" and turn.request.use_tools and len(deps.tools):
        async with aclosing(run_model_turn(deps, turn, route, read, outcome, raise_errors)) as ev:
            async for event in ev:
                yield event
        return
    results = await gather_tools(deps, turn)
    if turn.guard is not None:
        results = guard_tool_results(turn.guard, results)
        outcome.headers.update(turn.guard.headers())
    prepared = llm_request(deps, turn, route, results)
    models = {route.model, deps.strong_model}
    if deps.reachable is not None:
        models |= deps.reachable(route.model)
    billing: Billing | None = None
    try:
        async with deps.call.hold(
            turn.request,
            prepared,
            models=models,
            completion_tokens=prepared.max_tokens or deps.limits.max_completion_tokens,
            clock=turn.clock,
            hold_id=turn.request_id,
        ) as billing:
            yield Meta(route.model, route, None, turn.request_id)
            turn.iterations.spend("the model call")
            try:
                with turn.clock.stage("llm"):
                    stream = deps.call.stream(billing, prepared)
                    if turn.guard is not None:  # billed on what the provider sent
                        stream = guard_chunks(turn.guard, stream)
                    async with aclosing(stream) as chunks:
                        async for chunk in chunks:
                            turn.answer.append(chunk.text)
                            if chunk.text:
                                first = len(billing.produced) == 1
                                yield Token(chunk.text, billing.model if first else None)
                yield await finish(deps, turn, route, results, read, billing, outcome)
            except AgentError as exc:
                if raise_errors:
                    raise
                yield failed(turn, billing, exc, outcome)
    except BaseException as exc:
        if outcome.status == "pending" and billing is not None:
            cancelled = isinstance(exc, GeneratorExit | anyio.get_cancelled_exc_class())
            report(outcome, "cancelled" if cancelled else "failed", turn, billing)
        raise


async def begin(deps: TurnDeps, request: ChatRequest, guard: GuardSession | None = None) -> Run:
    """Validate, load the history, guard them, plan the tools and work out the cache keys."""
    clock = StageClock()
    request_id = secrets.token_hex(16)  # 128 random bits, as uuid4 but cheaper
    if request.model == AUTO_MODEL and deps.profile.model != AUTO_MODEL:
        request = msgspec.structs.replace(request, model=deps.profile.model)
    count_model = deps.cheap_model if request.model == AUTO_MODEL else request.model
    with clock.stage("validate"):
        validate_request(request, deps.limits, count_model=count_model)
    history = HistoryRecord()
    if deps.history is not None and request.session_id:
        with clock.stage("history"):
            history = await deps.history.load(
                request.session_id, tenant=request.tenant, user=request.user_id
            )
    if guard is not None:  # before the caches, the history and the provider see them
        guard.request_id = request_id
        with clock.stage("guard"):
            request, history = guard_turn(guard, request, history)
    conversation = history.messages + request.messages
    if not request.use_tools:
        plan = NO_TOOLS
    elif deps.profile.planner == "model":
        # The model picks the calls after the cache lookup: key per user whenever it may
        # call a tool that acts for one, and name every tool it is offered.
        personal = offers_personal(deps.tools) and request.user_id is not None
        plan = ToolPlan((), personal=personal)
    else:
        plan = deps.planner.plan(
            request.messages[-1].content, request.user_id, verified=request.authenticated
        )
    system = deps.prefix if not history.summary else f"{deps.prefix}\n\n{history.summary}"
    tier_key = request.model + deps.profile.cache_partition
    if request.max_tokens is not None:
        tier_key += f"|max_tokens={request.max_tokens}"
    scope = deps.cache.scope(
        mode=request.cache,
        temperature=request.temperature,
        tenant=request.tenant,
        tier_key=tier_key,
        conversation=conversation,
        system=system,
        tools=plan.tool_names if deps.profile.planner == "rules" else [t.name for t in deps.tools],
        user_id=request.user_id,
        personal=plan.personal,
    )
    return Run(
        request_id=request_id,
        request=request,
        clock=clock,
        iterations=Iterations(deps.max_iterations),
        history=history,
        conversation=conversation,
        plan=plan,
        scope=scope,
        guard=guard,
    )


async def read_cache(deps: TurnDeps, turn: Run) -> CacheRead:
    with turn.clock.stage("cache"):
        return await deps.cache.read(turn.scope)


async def replay(
    deps: TurnDeps, turn: Run, read: CacheRead, cached: CachedAnswer, outcome: StreamOutcome
) -> AsyncGenerator[StreamEvent, None]:
    """A cache hit: the stored answer a few words at a time, then its accounting."""
    yield Meta(cached.model, cache_route(read), read.source, turn.request_id)
    for piece in replay_pieces(cached.answer, deps.replay_words):
        yield Token(piece)
    with turn.clock.stage("write"):
        await append_history(deps, turn, cached.answer)
    outcome.status, outcome.model = "completed", cached.model
    outcome.cost_usd_micros, outcome.cost_known = (
        turn.summary_bill.usd_micros,
        turn.summary_bill.known,
    )
    outcome.completion_text, outcome.content_class = cached.answer, cached.content_class
    outcome.latency_ms = turn.clock.snapshot()
    outcome.done = Done(
        model=cached.model,
        usage=outcome.usage,
        cost_usd_micros=turn.summary_bill.usd_micros,
        cost_known=turn.summary_bill.known,
        saved_usd_micros=cached.cost_usd_micros,
        summary_cost_usd_micros=turn.summary_bill.usd_micros,
        latency_ms=outcome.latency_ms,
        sources=list(cached.sources),
        used_fallback=False,
        fallback_reason=None,
        simulated=deps.simulated,
        request_id=turn.request_id,
        cache_diagnostics=diagnostics(read, "skipped:hit"),
        agent=deps.profile.name,
        variant=deps.profile.variant,
    )
    yield outcome.done


async def choose_route(deps: TurnDeps, turn: Run) -> RouteInfo:
    with turn.clock.stage("route"), span("route") as traced:
        info = await _route(deps, turn)
        traced.set_attribute("frugal.route.tier", info.tier)
        traced.set_attribute("frugal.route.model", info.model)
        return info


async def _route(deps: TurnDeps, turn: Run) -> RouteInfo:
    model = turn.request.model
    if model != AUTO_MODEL:
        tier = {deps.cheap_model: "cheap", deps.strong_model: "strong"}.get(model)
        return RouteInfo(tier or "explicit", "explicit model", model)
    decision = await deps.router.route(
        turn.conversation, earlier_turns=turn.history.summarized_user_turns
    )
    return RouteInfo(decision.tier, decision.reason, decision.model)


async def gather_tools(deps: TurnDeps, turn: Run) -> list[ToolResult]:
    # One round of tools, and only if a round is left for the model call after it.
    refused = [withheld_result(name) for name in turn.plan.withheld]
    if not turn.plan.calls or turn.iterations.remaining < 2:
        return refused
    turn.iterations.spend("the tool round")
    with turn.clock.stage("tools"):
        done = await run_tools_concurrently(
            deps.tools, turn.plan.calls, timeout_cap_s=deps.profile.tool_timeout_s
        )
    charge_tool_calls(turn, done)
    return done + refused


def withheld_result(name: str) -> ToolResult:
    """The result standing in for a personal lookup no verified user asked for."""
    reason = (
        "refused: this lookup needs a verified user (an API key bound to a user, or signed "
        "x-frugal-user headers); ask the customer to sign in"
    )
    return ToolResult(f"withheld-{name}", name, False, None, reason, 0.0)


def llm_request(
    deps: TurnDeps, turn: Run, route: RouteInfo, results: list[ToolResult]
) -> LLMRequest:
    with turn.clock.stage("prompt"):
        system, messages = assemble_prompt(
            deps.prefix,
            conversation=turn.conversation,
            tool_results=results,
            summary=turn.history.summary,
        )
    return LLMRequest(
        model=route.model,
        messages=messages,
        system=system,
        # Sent upstream when the request sets none, so the budget hold is a true worst case.
        max_tokens=turn.request.max_tokens or deps.limits.max_completion_tokens,
        temperature=turn.request.temperature,
        user=turn.request.user_id,
    )
