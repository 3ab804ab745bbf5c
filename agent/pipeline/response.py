"""What the Answer pipeline hands back: `ChatResponse`, stream events and `StreamOutcome`."""

from __future__ import annotations

from typing import Any, Literal

import msgspec

from agent.types import Usage

CacheSource = Literal["exact", "semantic"]


class RouteInfo(msgspec.Struct, frozen=True):
    """The tier that answered and why; ``tier`` is ``explicit`` when the caller named a model
    that is neither the cheap nor the strong one."""

    tier: str
    reason: str
    model: str


class ToolTrace(msgspec.Struct, frozen=True):
    """One tool call the pipeline made: outcome and time, for the response and logs."""

    name: str
    ok: bool
    elapsed_ms: float
    error: str | None = None
    cached: bool = False


class CallCost(msgspec.Struct, frozen=True):
    """One model call of a turn and what it cost: ``purpose`` is ``tools`` (the model asked
    for tool calls), ``answer`` (the final answer) or ``summary`` (history compaction)."""

    purpose: str
    model: str
    usage: Usage
    cost_usd_micros: int
    cost_known: bool = True


class CacheDiagnostics(msgspec.Struct, frozen=True):
    """Why each cache did what it did.

    ``exact``/``semantic`` are ``hit``, ``miss``, ``disabled`` or ``skipped:<why>`` (e.g.
    ``skipped:no-cache``, ``skipped:multi_turn``, ``skipped:personal``), or the semantic
    cache's own reason (``below_threshold``, ``guard:negation``, ``unrepresentable:0.80``).
    ``write`` is ``stored:<class>``, ``skipped:<why>`` or ``not_stored:<class>`` (TTL 0).
    """

    exact: str = "disabled"
    semantic: str = "disabled"
    write: str = "skipped:hit"
    semantic_score: float | None = None


class ChatResponse(msgspec.Struct, frozen=True):
    """The answer and its accounting.

    ``cost_usd_micros`` is what this request cost in total (answer plus any history summary,
    0 on a cache hit); ``summary_cost_usd_micros`` is the summary's share. ``cost_known`` is
    false when a model had no price. ``saved_usd_micros`` is the original cost of a cached
    answer, or what the strong model would have cost minus the actual cost when the router
    chose the cheap one. ``latency_ms`` holds float milliseconds per stage and ``total``.
    """

    answer: str
    sources: list[str]
    model: str
    simulated: bool
    route: RouteInfo
    cache: CacheSource | None
    used_fallback: bool
    fallback_reason: str | None
    usage: Usage
    cost_usd_micros: int
    cost_known: bool
    saved_usd_micros: int
    summary_cost_usd_micros: int
    latency_ms: dict[str, float]
    request_id: str
    content_class: str | None = None
    tools: list[ToolTrace] = msgspec.field(default_factory=list)
    cache_diagnostics: CacheDiagnostics = msgspec.field(default_factory=CacheDiagnostics)
    finish_reason: str = "stop"
    agent: str = ""
    calls: list[CallCost] = msgspec.field(default_factory=list)
    """Every model call of the turn with its cost; ``cost_usd_micros`` is their sum."""
    variant: str = ""
    """The agent's A/B variant that answered (empty when it has none)."""


class Meta(msgspec.Struct, frozen=True, tag="meta"):
    """First stream event: who answers and whether it comes from a cache."""

    model: str
    route: RouteInfo
    cache: CacheSource | None
    request_id: str


class Token(msgspec.Struct, frozen=True, tag="token"):
    """A piece of the answer text. The first token of a model's answer names the model that
    actually produced it (it differs from `Meta.model` after a fallback); later ones don't."""

    text: str
    model: str | None = None


class Done(msgspec.Struct, frozen=True, tag="done"):
    """Last event of a successful stream: the accounting of `ChatResponse` without the text."""

    model: str
    usage: Usage
    cost_usd_micros: int
    cost_known: bool
    saved_usd_micros: int
    summary_cost_usd_micros: int
    latency_ms: dict[str, float]
    sources: list[str]
    used_fallback: bool
    fallback_reason: str | None
    simulated: bool
    request_id: str
    cache_diagnostics: CacheDiagnostics = msgspec.field(default_factory=CacheDiagnostics)
    finish_reason: str = "stop"
    """``stop``, or ``length`` when ``max_tokens`` cut the answer (as the provider said)."""
    agent: str = ""
    calls: list[CallCost] = msgspec.field(default_factory=list)
    variant: str = ""


class ToolCallEvent(msgspec.Struct, frozen=True, tag="tool_call"):
    """The model asked for a tool call (model-driven planner); ``arguments`` as decoded."""

    call_id: str
    name: str
    arguments: dict[str, Any]
    round: int


class ToolResultEvent(msgspec.Struct, frozen=True, tag="tool_result"):
    """A tool call finished: ``started_ms``/``ended_ms`` count from the turn's start."""

    call_id: str
    name: str
    ok: bool
    error: str | None
    elapsed_ms: float
    started_ms: float
    ended_ms: float
    cached: bool = False


class Error(msgspec.Struct, frozen=True, tag="error"):
    """Last event of a failed stream; ``code`` is the error's stable code."""

    code: str
    message: str
    request_id: str = ""


StreamEvent = Meta | Token | ToolCallEvent | ToolResultEvent | Done | Error
"""Events of `Agent.stream`, a tagged union (``{"type": "token", ...}`` in JSON)."""

StreamStatus = Literal["pending", "completed", "failed", "cancelled"]


class StreamOutcome:
    """A holder the caller passes to `Agent.stream` to learn what was billed, however it ended.

    Filled in before the stream's iterator finishes, even when the consumer stopped early or
    was cancelled: ``usage`` is the provider's count when it arrived, else our tokenizer's
    count of what was produced (``usage.estimated`` then true).
    """

    def __init__(self) -> None:
        self.status: StreamStatus = "pending"
        self.model: str | None = None
        self.usage = Usage()
        self.cost_usd_micros = 0
        self.cost_known = True
        self.completion_text = ""
        self.error_code: str | None = None
        self.latency_ms: dict[str, float] = {}
        # The final event when the stream completed: savings, fallback and cache diagnostics.
        self.done: Done | None = None
        # The first event, once `Agent.answer` has seen it: what an abandoned answer is
        # accounted under (its request id, route and cache layer).
        self.meta: Meta | None = None
        self.content_class: str | None = None
        self.tools: list[ToolTrace] = []
        self.calls: list[CallCost] = []
        # More x-frugal-* headers a stage set before the first event (the guard's counts).
        self.headers: dict[str, str] = {}
