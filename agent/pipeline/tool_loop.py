"""The model-driven planner: the model sees the tool schemas and asks for calls.

Each round is one model call through the core's `ProviderCall` (its own budget hold, billed
exactly and recorded under the turn). When the answer holds tool calls, Frugal runs that
round's calls concurrently (`run_tools_concurrently`: per-tool timeout, results in call order,
a failed or timed-out tool becomes an error result for the model), sends the results back and
asks again; text without tool calls is the answer. Tools stop being offered once the turn's
iterations, tool calls or spend run out, so the last round always answers in text.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator
from contextlib import aclosing
from typing import Any

import anyio

from agent.core.call import Billing
from agent.errors import AgentError
from agent.guard import guard_chunks
from agent.pipeline.answer_cache import CacheRead
from agent.pipeline.finish import (
    TurnDeps,
    call_cost,
    charge_tool_calls,
    failed,
    finish,
    report,
)
from agent.pipeline.guarding import guard_tool_results
from agent.pipeline.prompt import assemble_prompt
from agent.pipeline.response import (
    Meta,
    RouteInfo,
    StreamEvent,
    StreamOutcome,
    Token,
    ToolCallEvent,
    ToolResultEvent,
)
from agent.pipeline.run import Run
from agent.pipeline.tool_rounds import ToolCallCollector, run_round, tool_messages
from agent.tools.base import ToolRegistry, ToolResult, UserTool
from agent.types import LLMRequest, Message


def offers_personal(tools: ToolRegistry) -> bool:
    """Whether any tool the model may be offered acts for a user (its answers are personal)."""
    return any(tools.is_allowed(t) and (t.risk != "low" or isinstance(t, UserTool)) for t in tools)


async def run_model_turn(
    deps: TurnDeps,
    turn: Run,
    route: RouteInfo,
    read: CacheRead,
    outcome: StreamOutcome,
    raise_errors: bool,
) -> AsyncGenerator[StreamEvent, None]:
    """Yield `Meta`, then per round `Token`s or `ToolCallEvent`/`ToolResultEvent`s, then
    `Done` (or `Error`); see the module docstring."""
    profile = deps.profile
    schemas = deps.tools.schemas()
    system, turns = assemble_prompt(
        deps.prefix, conversation=turn.conversation, summary=turn.history.summary
    )
    messages: list[dict[str, Any]] = [{"role": "system", "content": system}]
    messages += [{"role": m.role, "content": m.content} for m in turns]
    plain: list[Message] = list(turns)
    results: list[ToolResult] = []
    calls_left = profile.max_tool_calls
    models = {route.model, deps.strong_model}
    if deps.reachable is not None:
        models |= deps.reachable(route.model)
    meta_sent = False
    billing: Billing | None = None
    round_no = 0
    try:
        while True:
            spent = turn.rounds_bill.usd_micros
            offer = (
                bool(schemas)
                and calls_left > 0
                and turn.iterations.remaining >= 3  # this call, the tools, the answer
                and (profile.max_spend_usd_micros is None or spent < profile.max_spend_usd_micros)
            )
            prepared = _request(deps, turn, route, system, messages, plain, schemas, offer)
            turn.iterations.spend("a model call")
            collector = ToolCallCollector()
            async with deps.call.hold(
                turn.request,
                prepared,
                models=models,
                completion_tokens=prepared.max_tokens or deps.limits.max_completion_tokens,
                clock=turn.clock,
                hold_id=f"{turn.request_id}:{round_no}",
            ) as billing:
                if not meta_sent:
                    meta_sent = True
                    yield Meta(route.model, route, None, turn.request_id)
                try:
                    turn.answer.clear()  # the answer is the last round's text
                    with turn.clock.stage("llm"):
                        stream = deps.call.stream(billing, prepared)
                        if turn.guard is not None:  # billed on what the provider sent
                            stream = guard_chunks(turn.guard, stream)
                        async with aclosing(stream) as chunks:
                            async for chunk in chunks:
                                collector.see(chunk.payload)
                                turn.answer.append(chunk.text)
                                if chunk.text:
                                    first = len(billing.produced) == 1
                                    yield Token(chunk.text, billing.model if first else None)
                    calls = collector.calls(turn.request_id, round_no) if offer else []
                    if not calls:
                        yield await finish(deps, turn, route, results, read, billing, outcome)
                        return
                    charged = billing.charge()
                    turn.rounds_bill = turn.rounds_bill + charged
                    turn.rounds_usage = turn.rounds_usage + billing.usage
                    turn.calls.append(call_cost("tools", billing, charged))
                except AgentError as exc:
                    if raise_errors:
                        raise
                    yield failed(turn, billing, exc, outcome)
                    return
            billing = None  # settled by the hold
            turn.iterations.spend("a tool round")
            calls = calls[:calls_left]
            calls_left -= len(calls)
            for call in calls:
                yield ToolCallEvent(call.call_id, call.name, call.args, round_no)
            user = turn.request.user_id if turn.request.authenticated else None
            with turn.clock.stage("tools"):
                done = await run_round(deps.tools, calls, user, profile)
            charge_tool_calls(turn, done)
            if turn.guard is not None:
                done = guard_tool_results(turn.guard, done)
            for result in done:
                yield _result_event(result, turn)
            results.extend(done)
            tool_messages(messages, plain, calls, done, collector.text)
            round_no += 1
    except BaseException as exc:
        if outcome.status == "pending":
            cancelled = isinstance(exc, GeneratorExit | anyio.get_cancelled_exc_class())
            report(outcome, "cancelled" if cancelled else "failed", turn, billing)
        raise


def _request(
    deps: TurnDeps,
    turn: Run,
    route: RouteInfo,
    system: str,
    messages: list[dict[str, Any]],
    plain: list[Message],
    schemas: list[dict[str, Any]],
    offer: bool,
) -> LLMRequest:
    max_tokens = turn.request.max_tokens or deps.limits.max_completion_tokens
    body: dict[str, Any] = {
        "model": route.model,
        "messages": list(messages),
        "max_tokens": max_tokens,
        "temperature": turn.request.temperature,
        "stream": True,
        "stream_options": {"include_usage": True},
    }
    if schemas:
        # Once a limit is reached the tools stay declared (earlier rounds' calls refer to
        # them) but the model may not call them: it answers with what it has.
        body["tools"] = schemas
        body["tool_choice"] = "auto" if offer else "none"
    if turn.request.user_id:
        body["user"] = turn.request.user_id
    return LLMRequest(
        model=route.model,
        messages=tuple(plain),
        system=system,
        max_tokens=max_tokens,
        temperature=turn.request.temperature,
        user=turn.request.user_id,
        body=body,
    )


def _result_event(result: ToolResult, turn: Run) -> ToolResultEvent:
    started = (result.started - turn.clock.started) * 1000.0 if result.started else 0.0
    return ToolResultEvent(
        result.call_id,
        result.name,
        result.ok,
        result.error,
        round(result.elapsed_ms, 3),
        round(started, 3),
        round(started + result.elapsed_ms, 3),
        result.cached,
    )
