"""An OpenAI Responses request as a Chat Completions body, for the completion core.

What maps one to one is renamed (``instructions`` → a system message, ``max_output_tokens`` →
``max_completion_tokens``, ``text.format`` → ``response_format``, ``reasoning.effort`` →
``reasoning_effort``, ``top_logprobs`` → ``logprobs`` with ``top_logprobs``, flat function
tools → chat tools; ``metadata`` stays on the Response, as chat completions' own
``metadata`` belongs to their stored completions); what has no chat form (hosted tools such
as ``web_search``, ``background``, stored prompts, item references) is refused with an
`InvalidParam` naming the field; fields this module does not know travel on unchanged. The
translation is deterministic: the same request always gives the same chat body, so the core's
caches treat it like any chat completion.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Final

from agent.core.request import InvalidParam
from agent.responses_translate.items import input_items

# Responses fields consumed here (everything else is passed through to the chat body).
_CONSUMED: Final = frozenset(
    {
        "input",
        "instructions",
        "tools",
        "tool_choice",
        "text",
        "reasoning",
        "max_output_tokens",
        "store",
        "previous_response_id",
        "include",
        "truncation",
        "stream",
        "stream_options",
        "max_tool_calls",
        "metadata",
        "top_logprobs",
    }
)
# Known Responses fields chat completions cannot express: refused rather than ignored.
_REFUSED: Final = {
    "background": "background responses are not supported",
    "conversation": "the Conversations API is not supported; use previous_response_id",
    "prompt": "stored prompt templates are not supported",
}
_ROLES: Final = frozenset({"user", "assistant", "system", "developer"})


@dataclass(frozen=True, slots=True)
class ChatTranslation:
    """The chat body to run, and this request's own input items in their stored form
    (messages with content parts and ids), for ``input_items`` and later turns."""

    body: dict[str, Any]
    input_items: list[dict[str, Any]]


def responses_to_chat(
    body: dict[str, Any], *, context: Sequence[dict[str, Any]] = ()
) -> ChatTranslation:
    """Translate ``body``; ``context`` holds the items of the conversation so far (from
    ``previous_response_id``), placed after ``instructions`` and before this input.

    Raises `InvalidParam` naming the field that cannot be translated.
    """
    for field, why in _REFUSED.items():
        if body.get(field) not in (None, False):
            raise InvalidParam(f"{field}: {why}", param=field)
    model = body.get("model")
    if not isinstance(model, str):
        raise InvalidParam("model is required and must be a string", param="model")
    items = input_items(body.get("input"))
    messages: list[dict[str, Any]] = []
    instructions = body.get("instructions")
    if instructions is not None:
        if not isinstance(instructions, str):
            raise InvalidParam("instructions must be a string", param="instructions")
        messages.append({"role": "system", "content": instructions})
    for index, item in enumerate(context):
        _add_item(messages, item, f"previous_response_id.items[{index}]")
    for index, item in enumerate(items):
        _add_item(messages, item, f"input[{index}]")
    if not messages:
        raise InvalidParam("input must hold at least one item", param="input")
    chat: dict[str, Any] = {"model": model, "messages": messages}
    _options(body, chat)
    for key, value in body.items():
        if key not in _CONSUMED and key not in chat and key not in _REFUSED:
            chat[key] = value  # temperature, top_p, user, unknown fields …
    return ChatTranslation(chat, items)


def _options(body: dict[str, Any], chat: dict[str, Any]) -> None:
    tools = body.get("tools")
    if tools:
        if not isinstance(tools, list):
            raise InvalidParam("tools must be a list", param="tools")
        chat["tools"] = [_tool(tool, f"tools[{i}]") for i, tool in enumerate(tools)]
    if body.get("tool_choice") is not None:
        chat["tool_choice"] = _tool_choice(body["tool_choice"])
    text = body.get("text")
    if isinstance(text, dict):
        if text.get("format") is not None:
            response_format = _response_format(text["format"])
            if response_format is not None:
                chat["response_format"] = response_format
        if text.get("verbosity") is not None:
            chat["verbosity"] = text["verbosity"]
    elif text is not None:
        raise InvalidParam("text must be an object", param="text")
    reasoning = body.get("reasoning")
    if isinstance(reasoning, dict) and reasoning.get("effort") is not None:
        chat["reasoning_effort"] = reasoning["effort"]
    if body.get("top_logprobs") is not None:
        chat["logprobs"] = True
        chat["top_logprobs"] = body["top_logprobs"]
    cap = body.get("max_output_tokens")
    if cap is not None:
        if not isinstance(cap, int) or isinstance(cap, bool) or cap < 1:
            raise InvalidParam(
                "max_output_tokens must be an integer of at least 1", param="max_output_tokens"
            )
        chat["max_completion_tokens"] = cap
    if body.get("stream"):
        chat["stream"] = True
        chat["stream_options"] = {"include_usage": True}


def _tool(tool: Any, where: str) -> dict[str, Any]:
    if not isinstance(tool, dict):
        raise InvalidParam(f"{where} must be an object", param=where)
    kind = tool.get("type")
    if kind != "function":
        raise InvalidParam(
            f"{where}.type: the tool type {kind!r} cannot be served through chat completions "
            "(only function tools can)",
            param=f"{where}.type",
        )
    name = tool.get("name")
    if not isinstance(name, str):
        raise InvalidParam(f"{where}.name is required", param=f"{where}.name")
    function: dict[str, Any] = {"name": name}
    for key in ("description", "parameters", "strict"):
        if tool.get(key) is not None:
            function[key] = tool[key]
    return {"type": "function", "function": function}


def _tool_choice(choice: Any) -> Any:
    if isinstance(choice, str):
        return choice
    if isinstance(choice, dict) and choice.get("type") == "function":
        if not isinstance(choice.get("name"), str):
            raise InvalidParam("tool_choice.name is required", param="tool_choice.name")
        return {"type": "function", "function": {"name": choice["name"]}}
    kind = choice.get("type") if isinstance(choice, dict) else None
    raise InvalidParam(
        f"tool_choice of type {kind!r} cannot be served through chat completions",
        param="tool_choice",
    )


def _response_format(fmt: Any) -> dict[str, Any] | None:
    kind = fmt.get("type") if isinstance(fmt, dict) else None
    if kind == "text":
        return None  # the default: the chat body stays as a plain text request would be
    if kind == "json_object":
        return {"type": "json_object"}
    if kind == "json_schema":
        assert isinstance(fmt, dict)
        schema = {
            key: fmt[key] for key in ("name", "schema", "strict", "description") if key in fmt
        }
        if not isinstance(schema.get("name"), str):
            raise InvalidParam("text.format.name is required", param="text.format.name")
        return {"type": "json_schema", "json_schema": schema}
    raise InvalidParam(f"text.format of type {kind!r} is not supported", param="text.format.type")


def _add_item(messages: list[dict[str, Any]], item: dict[str, Any], where: str) -> None:
    kind = item.get("type", "message")
    if kind == "message":
        role = item.get("role")
        if role not in _ROLES:
            raise InvalidParam(
                f"{where}.role must be one of {sorted(_ROLES)}", param=f"{where}.role"
            )
        content = _content(item.get("content"), role, f"{where}.content")
        messages.append({"role": role, "content": content})
    elif kind == "function_call":
        call = {
            "id": _required_str(item, "call_id", where),
            "type": "function",
            "function": {
                "name": _required_str(item, "name", where),
                "arguments": _required_str(item, "arguments", where),
            },
        }
        last = messages[-1] if messages else None
        if last is not None and last["role"] == "assistant" and "tool_call_id" not in last:
            last.setdefault("tool_calls", []).append(call)
            if last.get("content") == "":
                last["content"] = None
        else:
            messages.append({"role": "assistant", "content": None, "tool_calls": [call]})
    elif kind == "function_call_output":
        output = item.get("output")
        if isinstance(output, list):
            output = "\n".join(_part_text(p, f"{where}.output") for p in output)
        if not isinstance(output, str):
            raise InvalidParam(f"{where}.output must be a string", param=f"{where}.output")
        call_id = _required_str(item, "call_id", where)
        messages.append({"role": "tool", "tool_call_id": call_id, "content": output})
    elif kind == "reasoning":
        return  # reasoning from an earlier turn: chat completions has no place for it
    else:
        raise InvalidParam(
            f"{where}.type: input items of type {kind!r} cannot be served through chat completions",
            param=f"{where}.type",
        )


def _content(content: Any, role: str, where: str) -> Any:
    if isinstance(content, str):
        return content
    if not isinstance(content, list):
        raise InvalidParam(f"{where} must be a string or a list of parts", param=where)
    if role == "assistant":
        # Chat completions' assistant content is text: the parts of a reply are joined.
        return "".join(_part_text(p, f"{where}[{i}]") for i, p in enumerate(content))
    parts = [_part(p, f"{where}[{i}]") for i, p in enumerate(content)]
    if len(parts) == 1 and parts[0]["type"] == "text":
        return parts[0]["text"]  # one text part: the plain string a chat caller would send
    return parts


def _part(part: Any, where: str) -> dict[str, Any]:
    kind = part.get("type") if isinstance(part, dict) else None
    if kind in ("input_text", "output_text", "text"):
        return {"type": "text", "text": _part_text(part, where)}
    if kind == "input_image":
        url = part.get("image_url")
        if not isinstance(url, str):
            raise InvalidParam(
                f"{where}.image_url is required (file_id images are not supported)",
                param=f"{where}.image_url",
            )
        image: dict[str, Any] = {"url": url}
        if part.get("detail") is not None:
            image["detail"] = part["detail"]
        return {"type": "image_url", "image_url": image}
    if kind == "input_file":
        file = {k: part[k] for k in ("file_data", "file_id", "filename") if k in part}
        if not file:
            raise InvalidParam(f"{where}: file_data or file_id is required", param=where)
        return {"type": "file", "file": file}
    raise InvalidParam(
        f"{where}.type: content parts of type {kind!r} cannot be served through chat completions",
        param=f"{where}.type",
    )


def _part_text(part: Any, where: str) -> str:
    if isinstance(part, dict):
        if part.get("type") == "refusal" and isinstance(part.get("refusal"), str):
            return str(part["refusal"])
        if isinstance(part.get("text"), str):
            return str(part["text"])
    raise InvalidParam(f"{where} must be a text part", param=where)


def _required_str(item: dict[str, Any], key: str, where: str) -> str:
    value = item.get(key)
    if not isinstance(value, str):
        raise InvalidParam(
            f"{where}.{key} is required and must be a string", param=f"{where}.{key}"
        )
    return value
