"""A provider's own Responses answer in the Chat Completions shape the core caches and bills.

On the native path (`agent.openai_client` posting a caller's Responses body to a provider
that speaks the Responses API) the caller receives the provider's bytes; the core still needs
a ``chat.completion`` (whole answers) or ``chat.completion.chunk`` objects (streams) to
assemble, cache and bill. These pure functions make them: a ``message`` item's
``output_text`` parts become the content, ``refusal`` parts the refusal, ``function_call``
items tool calls (``call_id`` as the id), ``usage`` ``input_tokens`` / ``output_tokens``
(``input_tokens_details.cached_tokens``, ``output_tokens_details.reasoning_tokens``) the
chat usage; ``status`` ``incomplete`` maps back to a ``length`` or ``content_filter`` finish.
"""

from __future__ import annotations

from typing import Any, Final

_FINISH: Final = {"max_output_tokens": "length", "content_filter": "content_filter"}
FINAL_EVENTS: Final = frozenset({"response.completed", "response.incomplete"})
"""The events a finished Responses stream ends with (their ``response`` carries usage)."""


def chat_usage(usage: Any) -> dict[str, Any] | None:
    """Chat Completions ``usage`` for a Response's ``usage`` (None when it has none)."""
    if not isinstance(usage, dict):
        return None
    prompt = int(usage.get("input_tokens") or 0)
    completion = int(usage.get("output_tokens") or 0)
    input_details = usage.get("input_tokens_details") or {}
    output_details = usage.get("output_tokens_details") or {}
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": int(usage.get("total_tokens") or prompt + completion),
        "prompt_tokens_details": {"cached_tokens": int(input_details.get("cached_tokens") or 0)},
        "completion_tokens_details": {
            "reasoning_tokens": int(output_details.get("reasoning_tokens") or 0)
        },
    }


def finish_reason_of(response: dict[str, Any]) -> str:
    """The chat finish reason a finished Response stands for."""
    if response.get("status") == "incomplete":
        details = response.get("incomplete_details") or {}
        return _FINISH.get(str(details.get("reason")), "length")
    output = response.get("output") or []
    if any(isinstance(i, dict) and i.get("type") == "function_call" for i in output):
        return "tool_calls"
    return "stop"


def response_to_completion(response: dict[str, Any]) -> dict[str, Any]:
    """The ``chat.completion`` a whole Response object describes (one choice)."""
    texts: list[str] = []
    refusals: list[str] = []
    calls: list[dict[str, Any]] = []
    for item in response.get("output") or []:
        if not isinstance(item, dict):
            continue
        if item.get("type") == "message":
            for part in item.get("content") or []:
                if isinstance(part, dict) and part.get("type") == "output_text":
                    texts.append(str(part.get("text") or ""))
                elif isinstance(part, dict) and part.get("type") == "refusal":
                    refusals.append(str(part.get("refusal") or ""))
        elif item.get("type") == "function_call":
            calls.append(_tool_call(item))
    message: dict[str, Any] = {
        "role": "assistant",
        "content": "".join(texts) if texts or not (calls or refusals) else None,
        "refusal": "".join(refusals) if refusals else None,
    }
    if calls:
        message["tool_calls"] = calls
    return {
        "id": str(response.get("id") or ""),
        "object": "chat.completion",
        "created": int(response.get("created_at") or 0),
        "model": str(response.get("model") or ""),
        "choices": [
            {
                "index": 0,
                "message": message,
                "logprobs": None,
                "finish_reason": finish_reason_of(response),
            }
        ],
        "usage": chat_usage(response.get("usage")),
    }


def _tool_call(item: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": str(item.get("call_id") or item.get("id") or ""),
        "type": "function",
        "function": {"name": str(item.get("name") or ""), "arguments": item.get("arguments") or ""},
    }


class NativeChunks:
    """The ``chat.completion.chunk`` for each event of a provider's Responses stream, or
    None for events with nothing to fold in (``response.created``, part and item ends)."""

    def __init__(self, model: str) -> None:
        self._model = model
        self._id = ""
        self._calls: dict[int, int] = {}  # output_index -> tool call index

    def chunk(self, event: dict[str, Any]) -> dict[str, Any] | None:
        kind = event.get("type")
        response = event.get("response")
        if isinstance(response, dict):
            self._id = str(response.get("id") or self._id)
            self._model = str(response.get("model") or self._model)
        if kind == "response.output_text.delta":
            return self._delta({"content": str(event.get("delta") or "")})
        if kind == "response.refusal.delta":
            return self._delta({"refusal": str(event.get("delta") or "")})
        item = event.get("item")
        if kind == "response.output_item.added" and isinstance(item, dict):
            if item.get("type") == "message":
                return self._delta({"role": "assistant"})
            if item.get("type") == "function_call":
                index = self._calls.setdefault(_int(event.get("output_index")), len(self._calls))
                call = {**_tool_call(item), "index": index}
                return self._delta({"tool_calls": [call]})
        if kind == "response.function_call_arguments.delta":
            found = self._calls.get(_int(event.get("output_index")))
            if found is not None:
                arguments = {"index": found, "function": {"arguments": event.get("delta") or ""}}
                return self._delta({"tool_calls": [arguments]})
        if kind in FINAL_EVENTS and isinstance(response, dict):
            chunk = self._delta({}, finish_reason_of(response))
            chunk["usage"] = chat_usage(response.get("usage"))
            return chunk
        return None

    def _delta(self, delta: dict[str, Any], finish_reason: str | None = None) -> dict[str, Any]:
        return {
            "id": self._id,
            "object": "chat.completion.chunk",
            "model": self._model,
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish_reason}],
        }


def _int(value: Any) -> int:
    return value if isinstance(value, int) else 0


def expanded_body(
    body: dict[str, Any], context: list[dict[str, Any]], input_items: list[dict[str, Any]]
) -> dict[str, Any]:
    """``body`` with ``previous_response_id`` replaced by the conversation it stands for
    (``context`` then this request's ``input_items``), for a provider that never saw the
    stored response. Item ids are dropped: they are Frugal's or another provider's, which
    a stateless provider could not resolve."""
    out = {key: value for key, value in body.items() if key != "previous_response_id"}
    out["input"] = [
        {key: value for key, value in item.items() if key != "id"}
        for item in [*context, *input_items]
    ]
    return out
