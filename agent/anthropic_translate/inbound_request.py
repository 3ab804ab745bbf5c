"""Anthropic Messages request body → OpenAI Chat Completions request body.

For a caller speaking the Messages API to a model behind an OpenAI-compatible provider.
What translates: ``system`` (string or text blocks), text and image blocks (base64 and URL),
``tool_use`` / ``tool_result`` blocks, ``tools`` (custom tools), ``tool_choice`` (with
``disable_parallel_tool_use``), ``stop_sequences``, ``temperature``, ``top_p``,
``max_tokens``, ``metadata.user_id``, ``stream``, ``output_config.format`` (a JSON schema,
as ``response_format``). Dropped because they are hints or Anthropic account settings with
no OpenAI counterpart: ``cache_control`` on any block and at the top (OpenAI caches
prefixes by itself), ``thinking`` / ``redacted_thinking`` blocks of earlier assistant turns,
``thinking`` set to ``disabled``, ``output_config.effort``, ``service_tier``, ``speed``,
``inference_geo``, ``diagnostics``, ``user_profile_id``, ``workspace_id``. Refused with
`UntranslatableField` naming the field: ``top_k``,
``thinking`` enabled, server tools, ``document`` / ``search_result`` / other block types,
``mcp_servers``, ``container``. Fields this module does not know are passed on unchanged
(transparency: the provider decides).
"""

from __future__ import annotations

import json
from typing import Any, Final

from agent.anthropic_translate.errors import UntranslatableField

_HANDLED: Final = frozenset(
    {
        "model",
        "messages",
        "system",
        "max_tokens",
        "stream",
        "stop_sequences",
        "temperature",
        "top_p",
        "tools",
        "tool_choice",
        "metadata",
        "thinking",
        "output_config",
        # Anthropic-side hints and account settings: dropped.
        "cache_control",
        "service_tier",
        "speed",
        "inference_geo",
        "diagnostics",
        "user_profile_id",
        "workspace_id",
    }
)
_REFUSED: Final = {
    "top_k": "top_k has no OpenAI Chat Completions counterpart",
    "mcp_servers": "MCP servers run on Anthropic's side only",
    "container": "containers run on Anthropic's side only",
}
_DROPPED_BLOCKS: Final = frozenset({"thinking", "redacted_thinking"})


def anthropic_to_openai_request(body: dict[str, Any], *, model: str) -> dict[str, Any]:
    """The Chat Completions body for a Messages ``body``, aimed at ``model``.

    Raises `UntranslatableField` (``param`` in the caller's Messages spelling, e.g.
    ``messages[1].content[0].type``) for what OpenAI cannot express.
    """
    for name, why in _REFUSED.items():
        if name in body:
            raise UntranslatableField(f"{name}: {why}", param=name)
    thinking = body.get("thinking")
    if isinstance(thinking, dict) and thinking.get("type") not in (None, "disabled"):
        raise UntranslatableField(
            "thinking: extended thinking is not available on this model", param="thinking"
        )
    out: dict[str, Any] = {k: v for k, v in body.items() if k not in _HANDLED and k not in _REFUSED}
    out["model"] = model
    messages = _system(body.get("system"))
    for index, message in enumerate(body.get("messages") or ()):
        messages.extend(_message(message, f"messages[{index}]"))
    out["messages"] = messages
    if body.get("max_tokens") is not None:
        out["max_tokens"] = body["max_tokens"]
    for name in ("temperature", "top_p"):
        if body.get(name) is not None:
            out[name] = body[name]
    if body.get("stop_sequences"):
        out["stop"] = body["stop_sequences"]
    metadata = body.get("metadata")
    if isinstance(metadata, dict) and isinstance(metadata.get("user_id"), str):
        out["user"] = metadata["user_id"]
    if body.get("tools"):
        out["tools"] = [_tool(tool, f"tools[{i}]") for i, tool in enumerate(body["tools"])]
    if body.get("tool_choice") is not None:
        out.update(_tool_choice(body["tool_choice"]))
    output = body.get("output_config")
    if isinstance(output, dict) and isinstance(output.get("format"), dict):
        out["response_format"] = _response_format(output["format"])
    if body.get("stream"):
        out["stream"] = True
        out["stream_options"] = {"include_usage": True}
    return out


def _response_format(format_: dict[str, Any]) -> dict[str, Any]:
    if format_.get("type") != "json_schema" or not isinstance(format_.get("schema"), dict):
        raise UntranslatableField(
            f"output format {format_.get('type')!r} cannot be sent to this model",
            param="output_config.format.type",
        )
    schema = {"name": "output", "schema": format_["schema"], "strict": True}
    return {"type": "json_schema", "json_schema": schema}


def _system(system: Any) -> list[dict[str, Any]]:
    if system is None or system == "" or system == []:
        return []
    if isinstance(system, str):
        return [{"role": "system", "content": system}]
    texts = []
    for index, block in enumerate(system):
        if block.get("type") != "text":
            raise UntranslatableField(
                "system blocks must be text blocks", param=f"system[{index}].type"
            )
        texts.append(block.get("text", ""))
    return [{"role": "system", "content": "\n\n".join(texts)}]


def _message(message: dict[str, Any], where: str) -> list[dict[str, Any]]:
    role = message.get("role")
    content = message.get("content")
    if isinstance(content, str):
        return [{"role": role, "content": content}]
    if role == "assistant":
        return [_assistant(content or [], where)]
    # A user turn: tool results become `tool` messages (first, as OpenAI wants them right
    # after the assistant's calls), the rest one user message.
    out: list[dict[str, Any]] = []
    parts: list[dict[str, Any]] = []
    for index, block in enumerate(content or ()):
        at = f"{where}.content[{index}]"
        kind = block.get("type")
        if kind == "tool_result":
            out.append(_tool_result(block, at))
        elif kind == "text":
            parts.append({"type": "text", "text": block.get("text", "")})
        elif kind == "image":
            parts.append(_image(block, at))
        elif kind in _DROPPED_BLOCKS:
            continue
        else:
            raise UntranslatableField(
                f"{kind} blocks cannot be sent to this model", param=f"{at}.type"
            )
    if parts:
        plain = all(p["type"] == "text" for p in parts)
        if plain and len(parts) == 1:
            out.append({"role": "user", "content": parts[0]["text"]})
        else:
            out.append({"role": "user", "content": parts})
    return out


def _assistant(content: list[dict[str, Any]], where: str) -> dict[str, Any]:
    texts: list[str] = []
    calls: list[dict[str, Any]] = []
    for index, block in enumerate(content):
        kind = block.get("type")
        if kind == "text":
            texts.append(block.get("text", ""))
        elif kind == "tool_use":
            calls.append(
                {
                    "id": block.get("id"),
                    "type": "function",
                    "function": {
                        "name": block.get("name"),
                        "arguments": json.dumps(block.get("input") or {}, separators=(",", ":")),
                    },
                }
            )
        elif kind not in _DROPPED_BLOCKS:
            raise UntranslatableField(
                f"{kind} blocks cannot be sent to this model",
                param=f"{where}.content[{index}].type",
            )
    out: dict[str, Any] = {"role": "assistant", "content": "".join(texts) if texts else None}
    if calls:
        out["tool_calls"] = calls
    return out


def _tool_result(block: dict[str, Any], where: str) -> dict[str, Any]:
    inner = block.get("content")
    if inner is None or isinstance(inner, str):
        text = inner or ""
    else:
        texts = []
        for index, part in enumerate(inner):
            if part.get("type") != "text":
                raise UntranslatableField(
                    "tool results sent to this model may hold only text",
                    param=f"{where}.content[{index}].type",
                )
            texts.append(part.get("text", ""))
        text = "\n".join(texts)
    if block.get("is_error"):
        text = f"Error: {text}"
    return {"role": "tool", "tool_call_id": block.get("tool_use_id"), "content": text}


def _image(block: dict[str, Any], where: str) -> dict[str, Any]:
    source = block.get("source") or {}
    kind = source.get("type")
    if kind == "base64":
        url = f"data:{source.get('media_type')};base64,{source.get('data')}"
    elif kind == "url":
        url = str(source.get("url") or "")
    else:
        raise UntranslatableField(
            f"image sources of type {kind!r} cannot be sent to this model",
            param=f"{where}.source.type",
        )
    return {"type": "image_url", "image_url": {"url": url}}


def _tool(tool: dict[str, Any], where: str) -> dict[str, Any]:
    if tool.get("type") not in (None, "custom"):
        raise UntranslatableField(
            f"server tool {tool.get('type')!r} runs on Anthropic's side only",
            param=f"{where}.type",
        )
    function: dict[str, Any] = {
        "name": tool.get("name"),
        "parameters": tool.get("input_schema") or {"type": "object", "properties": {}},
    }
    if tool.get("description"):
        function["description"] = tool["description"]
    return {"type": "function", "function": function}


def _tool_choice(choice: dict[str, Any]) -> dict[str, Any]:
    kind = choice.get("type")
    out: dict[str, Any] = {}
    if kind == "auto":
        out["tool_choice"] = "auto"
    elif kind == "any":
        out["tool_choice"] = "required"
    elif kind == "none":
        out["tool_choice"] = "none"
    elif kind == "tool":
        out["tool_choice"] = {"type": "function", "function": {"name": choice.get("name")}}
    else:
        raise UntranslatableField(f"unknown tool_choice type {kind!r}", param="tool_choice.type")
    if choice.get("disable_parallel_tool_use"):
        out["parallel_tool_calls"] = False
    return out
