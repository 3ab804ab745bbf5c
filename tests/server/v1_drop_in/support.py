"""Shared pieces of the drop-in tests: the cache header, the simulated settings and miss-then-hit
helpers."""

from __future__ import annotations

from typing import Any

import pytest
from openai import AsyncOpenAI

from tests.support.v1 import (
    comparable,
)

CACHE = "x-frugal-cache"


FAST_SIMULATED = {
    "FRUGAL_SIMULATED_CHEAP_TTFT_MS": "0",
    "FRUGAL_SIMULATED_STRONG_TTFT_MS": "0",
    "FRUGAL_SIMULATED_CHEAP_TOKENS_PER_S": "100000",
    "FRUGAL_SIMULATED_STRONG_TOKENS_PER_S": "100000",
}


async def create_raw(c: AsyncOpenAI, **kwargs: Any) -> tuple[Any, str]:
    """The parsed completion and its ``x-frugal-cache`` header."""
    raw = await c.chat.completions.with_raw_response.create(**kwargs)
    return raw.parse(), raw.headers[CACHE]


async def miss_then_hit(c: AsyncOpenAI, **kwargs: Any) -> Any:
    """Send the same request twice: a miss, then an exact hit replaying the same answer."""
    first, cache = await create_raw(c, **kwargs)
    assert cache == "miss"
    again, cache = await create_raw(c, **kwargs)
    assert cache == "exact"
    assert comparable(again) == comparable(first)
    assert again.id != first.id
    return first


BAD_BODIES: list[Any] = [
    (
        "n=0",
        b'{"model":"gpt-4o-mini","messages":[{"role":"user","content":"Hi"}],"n":0}',
        "n",
    ),
    (
        "temperature=5",
        b'{"model":"gpt-4o-mini","messages":[{"role":"user","content":"Hi"}],"temperature":5}',
        "temperature",
    ),
    pytest.param(
        "messages missing",
        b'{"model":"gpt-4o-mini"}',
        "messages",
    ),
    pytest.param(
        "role missing",
        b'{"model":"gpt-4o-mini","messages":[{"content":"Hi"}]}',
        "messages[0].role",
    ),
    (
        "messages empty",
        b'{"model":"gpt-4o-mini","messages":[]}',
        "messages",
    ),
    (
        "model with CR/LF",
        b'{"model":"gpt-4o\\r\\nx-evil: 1","messages":[{"role":"user","content":"Hi"}]}',
        "model",
    ),
    (
        "messages not a list",
        b'{"model":"gpt-4o-mini","messages":"Hi"}',
        "messages",
    ),
    (
        "role not a string",
        b'{"model":"gpt-4o-mini","messages":[{"role":1,"content":"Hi"}]}',
        "messages[0].role",
    ),
    ("malformed JSON", b'{"model":"gpt-4o-mini","messages":[', None),
    ("not an object", b"[1, 2]", None),
]
