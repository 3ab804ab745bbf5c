"""Value types shared by every LLM client: requests, responses, stream chunks and usage.

All are msgspec Structs so they encode to JSON (and into caches) without glue code.
"""

from __future__ import annotations

from typing import Literal

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
