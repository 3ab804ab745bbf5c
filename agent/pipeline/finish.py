"""The end of a turn: bill the answer, write the caches and the history, settle, report.

Shared by the single-call turn (`agent.pipeline.turn`) and the model-driven tool loop
(`agent.pipeline.tool_loop`): whatever model calls came before the answer are on the `Run`
(``rounds_bill``, ``calls``) and are added to the answer's own cost.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from agent.core.call import Billing, ProviderCall
from agent.core.costing import Bill, CostModel, bill, routing_savings
from agent.errors import AgentError, ProviderError, StreamInterrupted
from agent.guard import Guard
from agent.history import ConversationHistory
from agent.pipeline.answer_cache import AnswerCache, CacheRead
from agent.pipeline.planner import ToolPlanner
from agent.pipeline.profile import AgentProfile
from agent.pipeline.request import AUTO_MODEL, RequestLimits
from agent.pipeline.response import CallCost, Done, Error, RouteInfo, StreamOutcome
from agent.pipeline.run import Run
from agent.pipeline.shaping import diagnostics, sources_and_tags, tool_traces
from agent.tools.base import ToolRegistry, ToolResult
from agent.types import Message, Usage
from cache.prompt_cache import CachedAnswer
from router.base import Router

_log = logging.getLogger(__name__)

UNREPLAYABLE_FINISH = frozenset({"length", "content_filter"})
"""Answers cut by the token cap or a filter are never cached: replayed, they would pass for
complete ones."""


@dataclass(frozen=True, slots=True)
class TurnDeps:
    """Everything a turn uses, built once by `Agent` from what it was given."""

    call: ProviderCall
    router: Router
    costs: CostModel
    cheap_model: str
    strong_model: str
    tools: ToolRegistry
    planner: ToolPlanner
    cache: AnswerCache
    history: ConversationHistory | None
    limits: RequestLimits
    prefix: str
    max_iterations: int
    replay_words: int
    reachable: Callable[[str], set[str]] | None = None
    """Every model a call to a model may end up on (its fallback chain), for the hold."""
    profile: AgentProfile = field(default_factory=AgentProfile)
    guard: Guard | None = None
    simulated: bool = False
    """Whether answers come from a simulated provider; a cache hit reports it too, as the
    stream's ``meta`` event does (the cached answer was produced by that provider)."""


def call_cost(purpose: str, billing: Billing, charged: Bill) -> CallCost:
    """The breakdown entry of one finished model call."""
    return CallCost(purpose, billing.model, billing.usage, charged.usd_micros, charged.known)


async def finish(
    deps: TurnDeps,
    turn: Run,
    route: RouteInfo,
    results: list[ToolResult],
    read: CacheRead,
    billing: Billing,
    outcome: StreamOutcome,
) -> Done:
    """Bill the answer, write the caches and the history, settle, and say so."""
    charged = billing.charge()
    saved = savings(deps, turn, route, charged, billing)
    sources, tags = sources_and_tags(results)
    # With the guard on, the caches and the history keep the redacted answer.
    text = "".join(turn.answer) if turn.guard is not None else billing.text
    with turn.clock.stage("write"):
        content_class = deps.cache.classify(results, used_fallback=billing.used_fallback)
        answer = CachedAnswer(
            answer=text,
            model=billing.model,
            created_at=0.0,
            usage=billing.usage,
            cost_usd_micros=(charged + turn.rounds_bill).usd_micros,
            sources=sources,
        )
        if billing.finish_reason in UNREPLAYABLE_FINISH:
            write = f"skipped:finish_reason:{billing.finish_reason}"  # a cut answer is no answer
        else:
            write = await deps.cache.write(
                turn.scope, answer, content_class=content_class, tags=tags
            )
        await append_history(deps, turn, text)
    await deps.call.settle(billing, turn.summary_bill.usd_micros + turn.unheld_bill.usd_micros)
    turn.calls.append(call_cost("answer", billing, charged))
    if turn.summary_usage.total:
        turn.calls.append(
            CallCost(
                "summary",
                deps.cheap_model,
                turn.summary_usage,
                turn.summary_bill.usd_micros,
                turn.summary_bill.known,
            )
        )
    report(outcome, "completed", turn, billing)
    outcome.content_class, outcome.tools = content_class, tool_traces(results)
    total = charged + turn.summary_bill + turn.rounds_bill
    outcome.done = Done(
        model=billing.model,
        usage=outcome.usage,
        cost_usd_micros=total.usd_micros,
        cost_known=total.known,
        saved_usd_micros=saved,
        summary_cost_usd_micros=turn.summary_bill.usd_micros,
        latency_ms=turn.clock.snapshot(),
        sources=sources,
        used_fallback=billing.used_fallback,
        fallback_reason=billing.fallback_reason,
        simulated=billing.simulated,
        request_id=turn.request_id,
        cache_diagnostics=diagnostics(read, write),
        finish_reason=billing.finish_reason or "stop",
        agent=deps.profile.name,
        variant=deps.profile.variant,
        calls=list(turn.calls),
    )
    return outcome.done


def charge_tool_calls(turn: Run, results: Sequence[ToolResult]) -> None:
    """Record the model calls a round's tools paid for themselves (a knowledge base's
    rerank) under the turn: among its calls, in its cost, and in what the answer's hold
    settles (they had no hold of their own). A result reused from the cache cost nothing."""
    for result in results:
        if result.cached or result.output is None:
            continue
        for call in result.output.calls:
            spent = Bill(call.cost_usd_micros, call.cost_known)
            turn.calls.append(
                CallCost(call.purpose, call.model, call.usage, spent.usd_micros, spent.known)
            )
            turn.rounds_bill = turn.rounds_bill + spent
            turn.rounds_usage = turn.rounds_usage + call.usage
            turn.unheld_bill = turn.unheld_bill + spent


def savings(deps: TurnDeps, turn: Run, route: RouteInfo, charged: Bill, billing: Billing) -> int:
    if turn.request.model != AUTO_MODEL or route.tier != "cheap" or turn.rounds_bill.usd_micros:
        return 0
    return routing_savings(deps.costs, deps.strong_model, charged, billing.usage)


async def append_history(deps: TurnDeps, turn: Run, answer: str) -> None:
    request = turn.request
    if deps.history is None or not request.session_id:
        return
    turns = [m for m in request.messages if m.role != "system"]
    turns.append(Message("assistant", answer))
    compaction = await deps.history.append(
        request.session_id, turns, tenant=request.tenant, user=request.user_id, base=turn.history
    )
    if compaction is not None:
        turn.summary_usage = compaction.usage
        turn.summary_bill = bill(deps.costs, compaction.model, compaction.usage)


def report(outcome: StreamOutcome, status: str, turn: Run, billing: Billing | None) -> None:
    """Copy what was billed into the caller's ``outcome`` (every call of the turn)."""
    if billing is not None:
        billing.charge_partial()
    last_bill = billing.bill if billing is not None else Bill()
    last_usage = billing.usage if billing is not None else Usage()
    total = last_bill + turn.summary_bill + turn.rounds_bill
    outcome.status = status  # type: ignore[assignment]  # one of StreamStatus
    outcome.model = billing.model if billing is not None and billing.called else None
    outcome.usage = turn.rounds_usage + last_usage if turn.rounds_usage.total else last_usage
    outcome.cost_usd_micros, outcome.cost_known = total.usd_micros, total.known
    outcome.completion_text = billing.text if billing is not None else ""
    outcome.latency_ms = turn.clock.snapshot()
    outcome.calls = list(turn.calls)


def failed(turn: Run, billing: Billing | None, exc: AgentError, outcome: StreamOutcome) -> Error:
    """The `Error` event ending a turn that failed after its first event."""
    code = exc.code
    if (
        billing is not None
        and billing.produced
        and isinstance(exc, ProviderError)
        and not isinstance(exc, StreamInterrupted)
    ):
        code = StreamInterrupted.code  # text already reached the client: not retryable
    _log.warning("stream %s failed (%s): %s", turn.request_id, code, exc)
    report(outcome, "failed", turn, billing)
    outcome.error_code = code
    return Error(code, str(exc), turn.request_id)
