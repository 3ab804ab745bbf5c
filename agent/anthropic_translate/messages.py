"""OpenAI chat ``messages`` → Anthropic ``system`` blocks and alternating ``messages``."""

from __future__ import annotations

import json
from typing import Any

from agent.anthropic_translate.errors import UntranslatableField

_IMAGE_TYPES = frozenset({"image/jpeg", "image/png", "image/gif", "image/webp"})

Block = dict[str, Any]
Content = str | list[Block]


def convert_messages(messages: list[dict[str, Any]]) -> tuple[list[Block], list[dict[str, Any]]]:
    """The Anthropic ``system`` text blocks and ``messages`` for OpenAI chat messages.

    System and developer messages, wherever they are, become system blocks in order. Tool
    results become ``tool_result`` blocks in a user message; consecutive messages of one role
    merge into one (Anthropic requires alternation), with tool results first in a user turn.
    Raises ``UntranslatableField`` for content Anthropic cannot take.
    """
    system: list[Block] = []
    turns: list[tuple[str, Content]] = []
    for i, message in enumerate(messages):
        where = f"messages[{i}]"
        role = message.get("role")
        content = message.get("content")
        if role in ("system", "developer"):
            system.extend(_text_blocks(content, where))
        elif role == "user":
            turns.append(("user", _user_content(content, where)))
        elif role == "assistant":
            blocks = _assistant_blocks(message, where)
            if blocks:
                turns.append(("assistant", blocks))
        elif role == "tool":
            turns.append(("user", [_tool_result(message, where)]))
        else:
            raise UntranslatableField(f"role {role!r} is not supported", param=f"{where}.role")
    return system, [_turn(role, content) for role, content in _merge(turns)]


def _merge(turns: list[tuple[str, Content]]) -> list[tuple[str, Content]]:
    merged: list[tuple[str, Content]] = []
    for role, content in turns:
        if merged and merged[-1][0] == role:
            merged[-1] = (role, _as_blocks(merged[-1][1]) + _as_blocks(content))
        else:
            merged.append((role, content))
    return merged


def _turn(role: str, content: Content) -> dict[str, Any]:
    if isinstance(content, list) and role == "user":
        # Anthropic wants a user turn's tool_result blocks before any other content.
        results = [b for b in content if b["type"] == "tool_result"]
        content = results + [b for b in content if b["type"] != "tool_result"]
    return {"role": role, "content": content}


def _as_blocks(content: Content) -> list[Block]:
    return [{"type": "text", "text": content}] if isinstance(content, str) else content


def _text_blocks(content: Any, where: str) -> list[Block]:
    """Text-only content (system, developer, tool) as text blocks; empty text is dropped."""
    if content is None:
        return []
    if isinstance(content, str):
        return [{"type": "text", "text": content}] if content else []
    blocks: list[Block] = []
    for j, part in enumerate(content):
        if part.get("type") != "text":
            raise _bad_part(part, f"{where}.content[{j}]")
        if part["text"]:
            blocks.append({"type": "text", "text": part["text"]})
    return blocks


def _user_content(content: Any, where: str) -> Content:
    if isinstance(content, str):
        return content
    if content is None:
        raise UntranslatableField("a user message needs content", param=f"{where}.content")
    return [_user_part(part, f"{where}.content[{j}]") for j, part in enumerate(content)]


def _user_part(part: dict[str, Any], where: str) -> Block:
    kind = part.get("type")
    if kind == "text":
        return {"type": "text", "text": part["text"]}
    if kind == "image_url":
        image = part["image_url"]
        url = image if isinstance(image, str) else image.get("url", "")
        return _image_block(url, f"{where}.image_url.url")
    if kind == "file":
        return _document_block(part.get("file") or {}, f"{where}.file")
    raise _bad_part(part, where)


def _image_block(url: str, where: str) -> Block:
    if url.startswith(("http://", "https://")):
        return {"type": "image", "source": {"type": "url", "url": url}}
    media_type, data = _base64_data_url(url, where)
    if media_type not in _IMAGE_TYPES:
        raise UntranslatableField(f"image type {media_type!r} is not supported", param=where)
    return {"type": "image", "source": {"type": "base64", "media_type": media_type, "data": data}}


def _document_block(file: dict[str, Any], where: str) -> Block:
    file_data = file.get("file_data")
    if not file_data:
        # A file_id refers to OpenAI's file store, which Anthropic cannot read.
        raise UntranslatableField("only inline file_data can be sent", param=f"{where}.file_id")
    media_type, data = _base64_data_url(file_data, f"{where}.file_data")
    if media_type != "application/pdf":
        raise UntranslatableField(
            f"file type {media_type!r} is not supported, only PDF", param=f"{where}.file_data"
        )
    source = {"type": "base64", "media_type": media_type, "data": data}
    return {"type": "document", "source": source}


def _base64_data_url(url: str, where: str) -> tuple[str, str]:
    """``(media_type, data)`` of a ``data:<type>[;...];base64,<data>`` URL."""
    header, comma, data = url.partition(",")
    params = header.removeprefix("data:").split(";")
    if not url.startswith("data:") or not comma or params[-1] != "base64":
        raise UntranslatableField("expected an http(s) or base64 data: URL", param=where)
    return params[0], data


def _assistant_blocks(message: dict[str, Any], where: str) -> list[Block]:
    for field in ("audio", "function_call"):
        if message.get(field) is not None:
            raise UntranslatableField(
                f"assistant {field} is not supported", param=f"{where}.{field}"
            )
    content = message.get("content")
    blocks: list[Block] = []
    if isinstance(content, str):
        blocks.extend(_text_blocks(content, where))
    elif content is not None:
        for j, part in enumerate(content):
            kind = part.get("type")
            if kind not in ("text", "refusal"):
                raise _bad_part(part, f"{where}.content[{j}]")
            if part[kind]:
                blocks.append({"type": "text", "text": part[kind]})
    if message.get("refusal"):
        blocks.append({"type": "text", "text": message["refusal"]})
    for k, call in enumerate(message.get("tool_calls") or ()):
        blocks.append(_tool_use(call, f"{where}.tool_calls[{k}]"))
    return blocks


def _tool_use(call: dict[str, Any], where: str) -> Block:
    if call.get("type", "function") != "function":
        raise UntranslatableField(f"tool call type {call.get('type')!r}", param=f"{where}.type")
    function = call["function"]
    arguments = function.get("arguments") or ""
    try:
        # Some clients send "" for a tool without parameters.
        tool_input = json.loads(arguments) if arguments.strip() else {}
    except json.JSONDecodeError as exc:
        raise UntranslatableField(
            f"tool call arguments are not valid JSON: {exc}", param=f"{where}.function.arguments"
        ) from exc
    if not isinstance(tool_input, dict):
        raise UntranslatableField(
            "tool call arguments must be a JSON object", param=f"{where}.function.arguments"
        )
    return {"type": "tool_use", "id": call["id"], "name": function["name"], "input": tool_input}


def _tool_result(message: dict[str, Any], where: str) -> Block:
    tool_call_id = message.get("tool_call_id")
    if not tool_call_id:
        raise UntranslatableField(
            "a tool message needs tool_call_id", param=f"{where}.tool_call_id"
        )
    content = message.get("content")
    result: Content = content if isinstance(content, str) else _text_blocks(content, where)
    return {"type": "tool_result", "tool_use_id": tool_call_id, "content": result}


def _bad_part(part: dict[str, Any], where: str) -> UntranslatableField:
    return UntranslatableField(
        f"content part type {part.get('type')!r} is not supported", param=f"{where}.type"
    )
