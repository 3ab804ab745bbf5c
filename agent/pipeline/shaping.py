"""Small pure helpers that turn pipeline results into response fields."""

from __future__ import annotations

from agent.pipeline.answer_cache import CacheRead
from agent.pipeline.planner import KB_TOOL
from agent.pipeline.response import (
    CacheDiagnostics,
    ChatResponse,
    Done,
    RouteInfo,
    StreamOutcome,
    StreamStatus,
    ToolTrace,
)
from agent.pipeline.run import Run
from agent.tokens import count_message_tokens, count_text_tokens
from agent.tools.base import ToolResult
from agent.types import LLMRequest, Usage


def estimate_usage(request: LLMRequest, model: str, text: str) -> Usage:
    """Our tokenizer's count of a call whose provider usage never arrived (``estimated``)."""
    prompt = count_message_tokens(request.messages, model, system=request.system)
    return Usage(prompt=prompt, completion=count_text_tokens(text, model), estimated=True)


def sources_and_tags(results: list[ToolResult]) -> tuple[list[str], list[str]]:
    """Doc ids of every source used (answer order), and the KB ones as invalidation tags."""
    sources: list[str] = []
    tags: list[str] = []
    for result in results:
        if not result.ok or result.output is None:
            continue
        for source in result.output.sources:
            sources.append(source.doc_id)
            if result.name == KB_TOOL:
                tags.append(source.doc_id)
    return list(dict.fromkeys(sources)), list(dict.fromkeys(tags))


def tool_traces(results: list[ToolResult]) -> list[ToolTrace]:
    """One `ToolTrace` per result, in call order."""
    return [ToolTrace(r.name, r.ok, round(r.elapsed_ms, 3), r.error) for r in results]


def diagnostics(read: CacheRead, write: str) -> CacheDiagnostics:
    """The response's cache diagnostics from a read and a write outcome."""
    return CacheDiagnostics(read.exact, read.semantic, write, read.semantic_score)


def cache_route(read: CacheRead) -> RouteInfo:
    """The route reported for a cache hit: no tier was chosen, the cache answered."""
    model = read.answer.model if read.answer is not None else ""
    return RouteInfo("cache", f"{read.source} cache hit", model)


def replay_pieces(text: str, words_per_piece: int) -> list[str]:
    """``text`` in pieces of a few words that join back to it exactly."""
    words = text.split(" ")
    return [
        " ".join(words[i : i + words_per_piece]) + (" " if i + words_per_piece < len(words) else "")
        for i in range(0, len(words), words_per_piece)
    ]


def done_event(response: ChatResponse) -> Done:
    """The `Done` event carrying ``response``'s accounting."""
    return Done(
        model=response.model,
        usage=response.usage,
        cost_usd_micros=response.cost_usd_micros,
        cost_known=response.cost_known,
        saved_usd_micros=response.saved_usd_micros,
        summary_cost_usd_micros=response.summary_cost_usd_micros,
        latency_ms=response.latency_ms,
        sources=response.sources,
        used_fallback=response.used_fallback,
        fallback_reason=response.fallback_reason,
        simulated=response.simulated,
        request_id=response.request_id,
        cache_diagnostics=response.cache_diagnostics,
        finish_reason=response.finish_reason,
    )


def fill_outcome(
    outcome: StreamOutcome, status: StreamStatus, model: str | None, run: Run, text: str
) -> None:
    """Copy what ``run`` billed into the caller's ``outcome``."""
    total = run.bill + run.summary_bill
    outcome.status = status
    outcome.model = model
    outcome.usage = run.usage
    outcome.cost_usd_micros = total.usd_micros
    outcome.cost_known = total.known
    outcome.completion_text = text
    outcome.latency_ms = run.clock.snapshot()
