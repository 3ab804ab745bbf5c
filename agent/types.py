"""Value types shared by every LLM client: requests, responses, stream chunks and usage.

All are msgspec Structs so they encode to JSON (and into caches) without glue code.
`Message`, `Role` and `Usage` are defined in `cache.types` (every layer needs them) and
re-exported here.
"""

from __future__ import annotations

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
