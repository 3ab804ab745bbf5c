"""Value types shared by every LLM client: requests, responses, stream chunks and usage.

All are msgspec Structs so they encode to JSON (and into caches) without glue code.
`Message`, `Role` and `Usage` are defined in `cache.types` (every layer needs them) and
re-exported here.
"""

from __future__ import annotations

from typing import Any

import msgspec

from cache.types import Message, Role, Usage

__all__ = ["LLMRequest", "LLMResponse", "Message", "Role", "StreamChunk", "Usage"]


class LLMRequest(msgspec.Struct, frozen=True):
    """What an `LLMClient` is asked to do.

    ``system`` is kept apart from ``messages`` because providers cache it differently
    (Anthropic takes it as a top-level block with ``cache_control``).
    """

    model: str
    messages: tuple[Message, ...]
    system: str | None = None
    max_tokens: int | None = None
    temperature: float = 0.0
    user: str | None = None
    body: dict[str, Any] | None = None
    """The caller's whole OpenAI Chat Completions body, when the request came from the wire:
    providers then send it (model replaced, nothing else touched) instead of the fields above,
    which remain a plain-text view for counting and routing."""
    raw: bytes | None = None
    """``body`` exactly as the caller sent it; forwarded as is when the model is unchanged."""
    protocol: str = "openai"
    """The wire ``body`` speaks: ``openai`` (Chat Completions) or ``anthropic`` (Messages).
    An Anthropic client sends an ``anthropic`` body natively; an OpenAI client translates it
    (`agent.anthropic_inbound`)."""
    headers: dict[str, str] | None = None
    """Protocol headers the caller sent for the provider (``anthropic-beta`` and the other
    ``anthropic-*`` headers), forwarded on a native call."""


class LLMResponse(msgspec.Struct, frozen=True):
    """A finished, non-streamed answer."""

    text: str
    model: str
    usage: Usage
    provider: str
    finish_reason: str | None = "stop"
    simulated: bool = False
    used_fallback: bool = False
    fallback_reason: str | None = None
    completion: dict[str, Any] | None = None
    """The whole ``chat.completion`` object in OpenAI's shape (every choice, tool calls,
    logprobs, usage details), for callers that speak the wire; ``text`` is its first choice."""
    native: bytes | None = None
    """The provider's answer as it sent it, when it speaks the request's ``protocol`` (an
    Anthropic message for an ``anthropic`` request): the edge relays these bytes."""


class StreamChunk(msgspec.Struct, frozen=True):
    """One piece of a streamed answer.

    Text chunks carry ``text``; the provider's final accounting arrives as a chunk with
    ``usage`` set (and usually empty text). ``finish_reason`` is set on the last text chunk.
    """

    text: str = ""
    model: str = ""
    usage: Usage | None = None
    finish_reason: str | None = None
    simulated: bool = False
    used_fallback: bool = False
    fallback_reason: str | None = None
    payload: dict[str, Any] | None = None
    """The ``chat.completion.chunk`` this piece came from, in OpenAI's shape (None for chunks
    a client made up, e.g. a usage summary); ``raw`` is its JSON as the provider sent it."""
    raw: bytes | None = None
    more: bool = False
    """Another chunk of the same network read follows at once (a relay may join the writes)."""
    attempt_ended: bool = False
    """The attempt that produced the chunks so far ended (a broken stream continued on the
    next model): what it produced is billed on ``model``; later chunks are another attempt."""
    native: tuple[str, bytes] | None = None
    """The provider's own SSE event (name, data) when it speaks the request's ``protocol``
    (an Anthropic event for an ``anthropic`` request); ``payload`` is its OpenAI translation
    (None when the event has none, e.g. ``ping``)."""
