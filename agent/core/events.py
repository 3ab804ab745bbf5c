"""What the core yields: `Head` before anything is sent, `Piece`s, then `Tail`."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from agent.types import Usage

CacheLayer = Literal["exact", "semantic"]


@dataclass(frozen=True, slots=True)
class Head:
    """Who answers and from where, known before the first byte: the model the request goes
    to (after routing), its tier (``cheap``, ``strong``, ``explicit`` or ``cache``), why, and
    the cache layer on a hit."""

    request_id: str
    model: str
    tier: str
    reason: str
    cache: CacheLayer | None
    exact: str = "disabled"
    semantic: str = "disabled"
    """What each cache layer said: ``hit``, ``miss``, ``disabled`` or ``skipped:<why>``."""
    fallback_reason: str | None = None
    """Set when a fallback model answers (a stream's head waits for the provider's first
    event, so it is known there; ``model`` is then the fallback model)."""
    headers: dict[str, str] = field(default_factory=dict)
    """More ``x-frugal-*`` headers a stage wants sent (the guard's redaction counts)."""
    score: float | None = None
    """On a semantic hit: the cosine between the question and the one it matched."""
    matched: str | None = None
    """On a semantic hit: the stored (normalised) question it matched. It may be another
    caller's text, so the edge shows it only when the operator allows it."""


@dataclass(frozen=True, slots=True)
class Piece:
    """One ``chat.completion.chunk`` of a stream: ``raw`` is the provider's JSON to relay as
    is (None when the core made the chunk, e.g. a cache replay), ``chunk`` its decoded form."""

    chunk: dict[str, Any]
    raw: bytes | None = None
    more: bool = False
    """Another piece follows at once: the writer may hold this one to send them together."""
    native: tuple[str, bytes] | None = None
    """The provider's own event (SSE name, data) in the request's protocol, to relay as is
    (``chunk`` is then its OpenAI translation, possibly empty)."""


@dataclass(frozen=True, slots=True)
class Tail:
    """The end of a successful call: the whole completion (assembled from the pieces of a
    stream) and its accounting. Money is integer micro-USD."""

    completion: dict[str, Any]
    model: str
    usage: Usage
    cost_usd_micros: int
    cost_known: bool
    saved_usd_micros: int
    used_fallback: bool
    fallback_reason: str | None
    finish_reasons: tuple[str | None, ...]
    simulated: bool
    cache_write: str
    latency_ms: dict[str, float] = field(default_factory=dict)
    native: bytes | None = None
    """The provider's whole answer in the request's protocol (a fresh, non-streamed answer
    from a provider that speaks it), to relay as is; None otherwise."""
    headers: dict[str, str] = field(default_factory=dict)
    """More ``x-frugal-*`` headers for a whole answer (the guard's output redactions)."""


@dataclass(frozen=True, slots=True)
class Flush:
    """Nothing new to send, but a writer holding pieces back (to join the writes of one
    upstream read) sends them now: the provider paused or the answer is complete."""


CoreEvent = Head | Piece | Flush | Tail
