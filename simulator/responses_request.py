"""A Responses API request read as the Chat Completions request the simulator already answers.

The simulator's model is wire-neutral (`simulator.reply`): this maps ``instructions``,
``input`` (a string or message / ``function_call`` / ``function_call_output`` items), flat
function ``tools``, ``tool_choice``, ``text.format`` and ``max_output_tokens`` onto a
`ChatRequest`, so both wires plan the same replies, tool calls and JSON.
"""

from __future__ import annotations

from typing import Any

import msgspec

from simulator.openai_wire import ChatRequest


class InvalidResponsesRequest(ValueError):
    """The body is not a Responses request the simulator can read."""


def chat_request_of(body: dict[str, Any]) -> ChatRequest:
    """``body`` (a decoded Responses request) as a `ChatRequest`; raises
    `InvalidResponsesRequest`."""
    messages: list[dict[str, Any]] = []
    instructions = body.get("instructions")
    if isinstance(instructions, str) and instructions:
        messages.append({"role": "system", "content": instructions})
    given = body.get("input")
    if isinstance(given, str):
        messages.append({"role": "user", "content": given})
    elif isinstance(given, list):
        for item in given:
            if not isinstance(item, dict):
                raise InvalidResponsesRequest("input items must be objects")
            _add_item(messages, item)
    else:
        raise InvalidResponsesRequest("input must be a string or a list of items")
    if not messages:
        raise InvalidResponsesRequest("input must not be empty")
    chat: dict[str, Any] = {
        "model": body.get("model"),
        "messages": messages,
        "stream": bool(body.get("stream")),
        "max_tokens": body.get("max_output_tokens"),
        "parallel_tool_calls": body.get("parallel_tool_calls"),
    }
    tools = [
        {
            "type": "function",
            "function": {
                "name": t.get("name"),
                "description": t.get("description"),
                "parameters": t.get("parameters"),
            },
        }
        for t in body.get("tools") or []
        if isinstance(t, dict) and t.get("type") == "function"
    ]
    if tools:
        chat["tools"] = tools
    choice = body.get("tool_choice")
    if isinstance(choice, str):
        chat["tool_choice"] = choice
    elif isinstance(choice, dict) and choice.get("type") == "function":
        chat["tool_choice"] = {"type": "function", "function": {"name": choice.get("name")}}
    fmt = (body.get("text") or {}).get("format") if isinstance(body.get("text"), dict) else None
    if isinstance(fmt, dict) and fmt.get("type") == "json_schema":
        chat["response_format"] = {
            "type": "json_schema",
            "json_schema": {"name": fmt.get("name") or "out", "schema": fmt.get("schema")},
        }
    elif isinstance(fmt, dict) and fmt.get("type") == "json_object":
        chat["response_format"] = {"type": "json_object"}
    try:
        return msgspec.convert(chat, ChatRequest)
    except msgspec.ValidationError as exc:
        raise InvalidResponsesRequest(str(exc)) from exc


def _add_item(messages: list[dict[str, Any]], item: dict[str, Any]) -> None:
    kind = item.get("type", "message")
    if kind == "message":
        role = item.get("role")
        messages.append({"role": role, "content": _text(item.get("content"))})
    elif kind == "function_call":
        call = {
            "id": item.get("call_id"),
            "type": "function",
            "function": {"name": item.get("name"), "arguments": item.get("arguments") or ""},
        }
        last = messages[-1] if messages else None
        if last is not None and last["role"] == "assistant" and last.get("tool_calls"):
            last["tool_calls"].append(call)
        else:
            messages.append({"role": "assistant", "content": None, "tool_calls": [call]})
    elif kind == "function_call_output":
        output = item.get("output")
        messages.append(
            {
                "role": "tool",
                "tool_call_id": item.get("call_id"),
                "content": output if isinstance(output, str) else _text(output),
            }
        )
    # reasoning and other items carry nothing the simulated model reads


def _text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "\n".join(
            str(part.get("text"))
            for part in content
            if isinstance(part, dict) and isinstance(part.get("text"), str)
        )
    return ""
