"""A chat completion as an OpenAI Response object.

The first choice's message becomes the output: its text (or refusal) one ``message`` item,
each tool call one ``function_call`` item carrying the provider's call id as ``call_id``.
A ``length`` finish makes the response ``incomplete`` (``max_output_tokens``), a
``content_filter`` one ``incomplete`` (``content_filter``). Usage is renamed to Responses'
``input_tokens`` / ``output_tokens`` with their details.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from agent.responses_translate.items import new_item_id

_INCOMPLETE = {"length": "max_output_tokens", "content_filter": "content_filter"}


@dataclass(frozen=True, slots=True)
class ResponseContext:
    """What a Response object carries besides its output: its id, creation time (Unix
    seconds) and the request parameters a Response echoes back."""

    response_id: str
    created_at: int
    echo: dict[str, Any]


def echo_of(body: dict[str, Any]) -> dict[str, Any]:
    """The request parameters a Response repeats, with OpenAI's defaults where unset."""
    reasoning = body.get("reasoning")
    if not isinstance(reasoning, dict):
        reasoning = {}
    return {
        "instructions": body.get("instructions"),
        "max_output_tokens": body.get("max_output_tokens"),
        "metadata": body.get("metadata") or {},
        "parallel_tool_calls": body.get("parallel_tool_calls", True),
        "previous_response_id": body.get("previous_response_id"),
        "reasoning": {"effort": reasoning.get("effort"), "summary": reasoning.get("summary")},
        "store": body.get("store", True),
        "temperature": body.get("temperature", 1.0),
        "text": body.get("text") or {"format": {"type": "text"}},
        "tool_choice": body.get("tool_choice", "auto"),
        "tools": body.get("tools") or [],
        "top_p": body.get("top_p", 1.0),
        "truncation": body.get("truncation", "disabled"),
        "user": body.get("user"),
        "background": False,
    }


def status_of(finish_reason: str | None) -> tuple[str, dict[str, Any] | None]:
    """(``status``, ``incomplete_details``) for a chat finish reason."""
    reason = _INCOMPLETE.get(finish_reason or "")
    if reason is None:
        return "completed", None
    return "incomplete", {"reason": reason}


def usage_of(usage: dict[str, Any] | None) -> dict[str, Any] | None:
    """Responses' ``usage`` for a chat completion's (None stays None)."""
    if not isinstance(usage, dict):
        return None
    prompt = int(usage.get("prompt_tokens") or 0)
    completion = int(usage.get("completion_tokens") or 0)
    prompt_details = usage.get("prompt_tokens_details") or {}
    completion_details = usage.get("completion_tokens_details") or {}
    return {
        "input_tokens": prompt,
        "input_tokens_details": {"cached_tokens": int(prompt_details.get("cached_tokens") or 0)},
        "output_tokens": completion,
        "output_tokens_details": {
            "reasoning_tokens": int(completion_details.get("reasoning_tokens") or 0)
        },
        "total_tokens": int(usage.get("total_tokens") or prompt + completion),
    }


def message_item(item_id: str, parts: list[dict[str, Any]], status: str) -> dict[str, Any]:
    """An assistant ``message`` output item."""
    return {
        "id": item_id,
        "type": "message",
        "role": "assistant",
        "status": status,
        "content": parts,
    }


def text_part(text: str, logprobs: list[Any] | None = None) -> dict[str, Any]:
    """An ``output_text`` content part (chat logprobs entries have the Responses shape)."""
    return {"type": "output_text", "text": text, "annotations": [], "logprobs": logprobs or []}


def logprobs_of(choice: dict[str, Any]) -> list[Any]:
    """The token logprobs of a chat choice (or chunk choice), or an empty list."""
    logprobs = choice.get("logprobs")
    content = logprobs.get("content") if isinstance(logprobs, dict) else None
    return list(content) if isinstance(content, list) else []


def function_call_item(
    item_id: str, call_id: str, name: str, arguments: str, status: str = "completed"
) -> dict[str, Any]:
    """A ``function_call`` output item."""
    return {
        "id": item_id,
        "type": "function_call",
        "status": status,
        "call_id": call_id,
        "name": name,
        "arguments": arguments,
    }


def output_of(
    message: dict[str, Any], finish_reason: str | None, logprobs: list[Any] | None = None
) -> list[dict[str, Any]]:
    """The output items for a chat ``message`` (``logprobs``: its text's token logprobs)."""
    status = "incomplete" if finish_reason in _INCOMPLETE else "completed"
    parts: list[dict[str, Any]] = []
    content = message.get("content")
    if isinstance(content, list):  # some providers answer with text parts
        content = "".join(p.get("text", "") for p in content if isinstance(p, dict))
    if message.get("refusal"):
        parts.append({"type": "refusal", "refusal": message["refusal"]})
    calls = message.get("tool_calls") or []
    if content or (not parts and not calls):
        parts.insert(0, text_part(content or "", logprobs))
    items = [message_item(new_item_id("msg"), parts, status)] if parts else []
    for call in calls:
        function = call.get("function") or {}
        items.append(
            function_call_item(
                new_item_id("fc"),
                call.get("id") or new_item_id("call"),
                function.get("name", ""),
                function.get("arguments", ""),
            )
        )
    return items


def response_object(
    context: ResponseContext,
    *,
    model: str,
    output: list[dict[str, Any]],
    status: str,
    incomplete_details: dict[str, Any] | None = None,
    usage: dict[str, Any] | None = None,
    error: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """A Response object (``object: "response"``)."""
    return {
        "id": context.response_id,
        "object": "response",
        "created_at": context.created_at,
        "status": status,
        "error": error,
        "incomplete_details": incomplete_details,
        "model": model,
        "output": output,
        "usage": usage,
        **context.echo,
    }


def chat_to_response(completion: dict[str, Any], context: ResponseContext) -> dict[str, Any]:
    """The Response for a whole chat completion (its first choice)."""
    choices = completion.get("choices") or [{}]
    choice = choices[0]
    finish_reason = choice.get("finish_reason")
    status, incomplete = status_of(finish_reason)
    return response_object(
        context,
        model=str(completion.get("model") or ""),
        output=output_of(choice.get("message") or {}, finish_reason, logprobs_of(choice)),
        status=status,
        incomplete_details=incomplete,
        usage=usage_of(completion.get("usage")),
    )
