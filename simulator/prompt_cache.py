"""Simulated provider-side prompt caching, with each provider's billing rules.

A prompt is a list of `Segment`s (a message for OpenAI, a content block for Anthropic);
prefixes are identified by a hash chain over segments, so "seen this prefix before" is a set
lookup. Entries never expire here (real caches keep them ~5 minutes); `clear` forgets them.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass

from simulator.tokens import REPLY_PRIMER_TOKENS

# Both providers only cache prompts (Anthropic: prefixes) of at least this many tokens.
MIN_CACHEABLE_TOKENS = 1024
# OpenAI reports cache hits in increments of this many tokens.
OPENAI_CACHE_BLOCK = 128
# Bound the memory of a long-running simulator; forgetting everything is an honest "expiry".
_MAX_ENTRIES = 200_000


@dataclass(frozen=True)
class Segment:
    """A unit of prompt: its identity (bytes), its tokens, and whether it ends a cache prefix."""

    key: bytes
    tokens: int
    breakpoint: bool = False


@dataclass(frozen=True)
class AnthropicCacheUsage:
    """Anthropic's split of a prompt: uncached input, cache reads and cache writes."""

    input_tokens: int
    cache_read_input_tokens: int
    cache_creation_input_tokens: int


def prompt_total(segments: Sequence[Segment]) -> int:
    """All prompt tokens of ``segments``, reply primer included."""
    return REPLY_PRIMER_TOKENS + sum(segment.tokens for segment in segments)


class PromptMemory:
    """The set of prompt prefixes a simulated provider has already cached."""

    def __init__(self) -> None:
        self._seen: set[bytes] = set()

    def clear(self) -> None:
        """Forget every cached prefix."""
        self._seen.clear()

    def openai_cached_tokens(self, model: str, segments: Sequence[Segment]) -> int:
        """Cached tokens OpenAI would report, then remember every prefix of this prompt.

        The longest previously seen message prefix counts, rounded down to 128-token blocks,
        and only when the prompt and the cached part are both at least 1024 tokens.
        """
        hashes, cumulative = _prefixes(model, segments)
        cached = 0
        for digest, tokens in zip(hashes, cumulative, strict=True):
            if digest in self._seen:
                cached = tokens
        self._remember(hashes)
        if prompt_total(segments) < MIN_CACHEABLE_TOKENS:
            return 0
        cached -= cached % OPENAI_CACHE_BLOCK
        return cached if cached >= MIN_CACHEABLE_TOKENS else 0

    def anthropic_usage(self, model: str, segments: Sequence[Segment]) -> AnthropicCacheUsage:
        """Split the prompt the way Anthropic bills it, then remember the written prefix.

        Only prefixes ending at a ``cache_control`` block of >= 1024 tokens are cached: the
        longest one seen before is a read, and the rest up to the last breakpoint a write.
        """
        hashes, cumulative = _prefixes(model, segments)
        total = prompt_total(segments)
        breakpoints = [
            i
            for i, segment in enumerate(segments)
            if segment.breakpoint and cumulative[i] >= MIN_CACHEABLE_TOKENS
        ]
        read = 0
        for i in breakpoints:
            if hashes[i] in self._seen:
                read = cumulative[i]
        write = cumulative[breakpoints[-1]] - read if breakpoints else 0
        self._remember([hashes[i] for i in breakpoints])
        return AnthropicCacheUsage(
            input_tokens=total - read - write,
            cache_read_input_tokens=read,
            cache_creation_input_tokens=write,
        )

    def _remember(self, hashes: Sequence[bytes]) -> None:
        if len(self._seen) + len(hashes) > _MAX_ENTRIES:
            self._seen.clear()
        self._seen.update(hashes)


def _prefixes(model: str, segments: Sequence[Segment]) -> tuple[list[bytes], list[int]]:
    # hashes[i] identifies segments[:i+1] for this model; cumulative[i] is its token count.
    digest = hashlib.sha256(model.encode()).digest()
    hashes: list[bytes] = []
    cumulative: list[int] = []
    running = 0
    for segment in segments:
        digest = hashlib.sha256(digest + hashlib.sha256(segment.key).digest()).digest()
        running += segment.tokens
        hashes.append(digest)
        cumulative.append(running)
    return hashes, cumulative
