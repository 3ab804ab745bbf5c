"""Anthropic Messages answer → OpenAI ``chat.completion`` object."""

from __future__ import annotations

import json
from typing import Any

# Anthropic stop reasons in OpenAI's words. ``pause_turn`` (a server tool paused a long turn)
# has no OpenAI counterpart; the text so far is a complete answer from the client's view.
_FINISH_REASON = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "pause_turn": "stop",
    "max_tokens": "length",
    "model_context_window_exceeded": "length",
    "tool_use": "tool_calls",
    "refusal": "content_filter",
}


def finish_reason(stop_reason: str | None) -> str | None:
    """OpenAI's ``finish_reason`` for an Anthropic ``stop_reason``.

    ``None`` stays ``None`` (the message is not finished); a reason this module does not know
    becomes ``"stop"``, since the model did stop.
    """
    if stop_reason is None:
        return None
    return _FINISH_REASON.get(stop_reason, "stop")


def anthropic_usage_to_openai(usage: dict[str, Any]) -> dict[str, Any]:
    """OpenAI ``usage`` for an Anthropic ``usage`` object.

    Anthropic's ``input_tokens`` counts only uncached input, so ``prompt_tokens`` adds the cache
    reads and writes back; ``prompt_tokens_details.cached_tokens`` is the cache reads. The
    Anthropic split stays visible as the extra keys ``cache_creation_input_tokens`` and
    ``cache_read_input_tokens`` (cache writes are priced differently). Missing or null counts
    are 0.
    """
    uncached = usage.get("input_tokens") or 0
    cache_write = usage.get("cache_creation_input_tokens") or 0
    cache_read = usage.get("cache_read_input_tokens") or 0
    completion = usage.get("output_tokens") or 0
    prompt = uncached + cache_write + cache_read
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
        "prompt_tokens_details": {"cached_tokens": cache_read},
        "cache_creation_input_tokens": cache_write,
        "cache_read_input_tokens": cache_read,
    }


def tool_arguments(tool_input: Any) -> str:
    """A tool_use block's ``input`` as OpenAI's compact JSON ``arguments`` string."""
    return json.dumps(tool_input, separators=(",", ":"))


def anthropic_to_openai_response(
    message: dict[str, Any], *, completion_id: str, created: int
) -> dict[str, Any]:
    """The OpenAI ``chat.completion`` for a (non-streamed) Anthropic ``message``.

    Text blocks are joined into ``message.content``; tool_use blocks become
    ``message.tool_calls``. Thinking blocks, and server-tool blocks a client could not act on,
    are dropped: OpenAI chat has no field for them. ``content`` is ``None`` when there is no
    text but there are tool calls. Raises nothing for well-formed input.
    """
    texts: list[str] = []
    tool_calls: list[dict[str, Any]] = []
    for block in message.get("content") or ():
        kind = block.get("type")
        if kind == "text":
            texts.append(block["text"])
        elif kind == "tool_use":
            tool_calls.append(
                {
                    "id": block["id"],
                    "type": "function",
                    "function": {
                        "name": block["name"],
                        "arguments": tool_arguments(block["input"]),
                    },
                }
            )
    content: str | None = "".join(texts)
    if not texts and tool_calls:
        content = None
    reply: dict[str, Any] = {"role": "assistant", "content": content, "refusal": None}
    if tool_calls:
        reply["tool_calls"] = tool_calls
    return {
        "id": completion_id,
        "object": "chat.completion",
        "created": created,
        "model": message.get("model", ""),
        "choices": [
            {
                "index": 0,
                "message": reply,
                "finish_reason": finish_reason(message.get("stop_reason")) or "stop",
                "logprobs": None,
            }
        ],
        "usage": anthropic_usage_to_openai(message.get("usage") or {}),
    }
