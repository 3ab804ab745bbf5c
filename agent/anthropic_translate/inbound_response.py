"""OpenAI ``chat.completion`` → Anthropic Messages ``message``, for a caller speaking the
Messages API whose answer came from an OpenAI-compatible model (or from a cache entry)."""

from __future__ import annotations

import json
from typing import Any, Final

# OpenAI finish reasons in Anthropic's words.
_STOP_REASON: Final = {
    "stop": "end_turn",
    "length": "max_tokens",
    "tool_calls": "tool_use",
    "function_call": "tool_use",
    "content_filter": "refusal",
}


def stop_reason(finish_reason: str | None) -> str | None:
    """Anthropic's ``stop_reason`` for an OpenAI ``finish_reason`` (None stays None; a reason
    this module does not know is ``end_turn``: the model did stop)."""
    if finish_reason is None:
        return None
    return _STOP_REASON.get(finish_reason, "end_turn")


def openai_usage_to_anthropic(usage: dict[str, Any] | None) -> dict[str, int]:
    """Anthropic ``usage`` for an OpenAI ``usage`` object.

    Anthropic's ``input_tokens`` excludes cached input: it is ``prompt_tokens`` less the cache
    reads (``prompt_tokens_details.cached_tokens``) and cache writes (the
    ``cache_creation_input_tokens`` a translated Anthropic usage keeps). Missing counts are 0.
    """
    usage = usage or {}
    details = usage.get("prompt_tokens_details")
    read = (details.get("cached_tokens") if isinstance(details, dict) else 0) or 0
    write = usage.get("cache_creation_input_tokens") or 0
    prompt = usage.get("prompt_tokens") or 0
    return {
        "input_tokens": max(prompt - read - write, 0),
        "output_tokens": usage.get("completion_tokens") or 0,
        "cache_creation_input_tokens": write,
        "cache_read_input_tokens": read,
    }


def tool_input(arguments: Any) -> Any:
    """A tool call's ``arguments`` string as a tool_use block's ``input`` (an object; text
    that is not JSON is kept under ``_raw`` rather than lost)."""
    if not isinstance(arguments, str) or not arguments.strip():
        return {}
    try:
        decoded = json.loads(arguments)
    except json.JSONDecodeError:
        return {"_raw": arguments}
    return decoded if isinstance(decoded, dict) else {"_value": decoded}


def openai_to_anthropic_message(
    completion: dict[str, Any], *, message_id: str, model: str | None = None
) -> dict[str, Any]:
    """The Messages ``message`` for choice 0 of ``completion``: its text as a text block,
    its tool calls as tool_use blocks, the finish reason as ``stop_reason``, usage split
    into Anthropic's buckets. ``model`` overrides the completion's model name."""
    choices = completion.get("choices") or [{}]
    choice = choices[0]
    reply = choice.get("message") or {}
    content: list[dict[str, Any]] = []
    text = reply.get("content")
    if isinstance(text, str) and text:
        content.append({"type": "text", "text": text})
    refusal = reply.get("refusal")
    if isinstance(refusal, str) and refusal:
        content.append({"type": "text", "text": refusal})
    for call in reply.get("tool_calls") or ():
        function = call.get("function") or {}
        content.append(
            {
                "type": "tool_use",
                "id": call.get("id"),
                "name": function.get("name"),
                "input": tool_input(function.get("arguments")),
            }
        )
    return {
        "id": message_id,
        "type": "message",
        "role": "assistant",
        "model": model or completion.get("model", ""),
        "content": content,
        "stop_reason": stop_reason(choice.get("finish_reason")) or "end_turn",
        "stop_sequence": None,
        "usage": openai_usage_to_anthropic(completion.get("usage")),
    }
