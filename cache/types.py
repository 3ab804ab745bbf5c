"""Chat value types every layer shares: a message and the token usage of one call.

They live in the lowest package because the caches key on messages and store usage, and the
router, metrics and agent build on them too; `agent.types` re-exports them.
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
