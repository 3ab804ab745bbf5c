"""Value types shared by every LLM client: requests, responses, stream chunks and usage.

All are msgspec Structs so they encode to JSON (and into caches) without glue code.
"""

from __future__ import annotations

from typing import Any, Literal

import msgspec

Role = Literal["system", "user", "assistant", "tool"]


class Message(msgspec.Struct, frozen=True):
    """One chat turn."""

    role: Role
    content: str


class Usage(msgspec.Struct, frozen=True):
    """Token counts of one call, split into the four buckets providers bill differently.

    ``prompt`` counts every input token, including ``cached_prompt`` (served from the
    provider's prompt cache) and ``cache_write`` (Anthropic's cache creation).
    ``estimated`` is true when the counts come from our tokenizer, not the provider.
    """

    prompt: int = 0
    cached_prompt: int = 0
    cache_write: int = 0
    completion: int = 0
    estimated: bool = False

    @property
    def total(self) -> int:
        return self.prompt + self.completion

    def __add__(self, other: Usage) -> Usage:
        return Usage(
            prompt=self.prompt + other.prompt,
            cached_prompt=self.cached_prompt + other.cached_prompt,
            cache_write=self.cache_write + other.cache_write,
            completion=self.completion + other.completion,
            estimated=self.estimated or other.estimated,
        )


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
    payload: dict[str, Any] | None = None
    """The ``chat.completion.chunk`` this piece came from, in OpenAI's shape (None for chunks
    a client made up, e.g. a usage summary); ``raw`` is its JSON as the provider sent it."""
    raw: bytes | None = None
    completion: dict[str, Any] | None = None
    """The whole ``chat.completion`` object in OpenAI's shape (every choice, tool calls,
    logprobs, usage details), for callers that speak the wire; ``text`` is its first choice."""


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
