"""HTTP helpers for tests that talk to the upstream simulator directly."""

from __future__ import annotations

from typing import Any

import aiohttp

OPENAI_KEY = {"Authorization": "Bearer sk-test"}
ANTHROPIC_KEY = {"x-api-key": "sk-ant-test", "anthropic-version": "2023-06-01"}
QUESTION = "How do I reset my password?"
# ~1,500 tokens: above both providers' 1,024-token caching minimum.
LONG_SYSTEM = "You are Acme's careful support assistant. " * 190


def chat_body(content: str = QUESTION, **extra: Any) -> dict[str, Any]:
    return {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": content}], **extra}


def messages_body(content: str = QUESTION, **extra: Any) -> dict[str, Any]:
    return {
        "model": "claude-haiku-4-5",
        "max_tokens": 512,
        "messages": [{"role": "user", "content": content}],
        **extra,
    }


async def post(
    http: aiohttp.ClientSession, url: str, body: Any, headers: dict[str, str]
) -> tuple[int, dict[str, str], str]:
    async with http.post(url, json=body, headers=headers) as response:
        return response.status, dict(response.headers), await response.text()


def sse_blocks(text: str) -> list[tuple[str | None, str]]:
    """(event name, data) per SSE block."""
    blocks = []
    for block in text.strip().split("\n\n"):
        event, data = None, ""
        for line in block.split("\n"):
            if line.startswith("event: "):
                event = line[len("event: ") :]
            elif line.startswith("data: "):
                data = line[len("data: ") :]
        blocks.append((event, data))
    return blocks
