"""Small pure helpers that turn pipeline results into response fields."""

from __future__ import annotations

from agent.pipeline.answer_cache import CacheRead
from agent.pipeline.planner import KB_TOOL
from agent.pipeline.response import (
    CacheDiagnostics,
    RouteInfo,
    ToolTrace,
)
from agent.tools.base import ToolResult


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
                # A cited chunk (``kb:doc@n``) tags the answer with its document.
                tags.append(source.doc_id.split("@", 1)[0])
    return list(dict.fromkeys(sources)), list(dict.fromkeys(tags))


def tool_traces(results: list[ToolResult]) -> list[ToolTrace]:
    """One `ToolTrace` per result, in call order."""
    return [ToolTrace(r.name, r.ok, round(r.elapsed_ms, 3), r.error, r.cached) for r in results]


def diagnostics(read: CacheRead, write: str) -> CacheDiagnostics:
    """The response's cache diagnostics from a read and a write outcome."""
    return CacheDiagnostics(read.exact, read.semantic, write, read.semantic_score)


def cache_route(read: CacheRead) -> RouteInfo:
    """The route reported for a cache hit: no tier was chosen, the cache answered."""
    model = read.answer.model if read.answer is not None else ""
    return RouteInfo("cache", f"{read.source} cache hit", model)
