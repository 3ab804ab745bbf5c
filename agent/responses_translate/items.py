"""Responses input items in their stored form, and the ids Frugal gives items.

A request's ``input`` (a string or a list of items) is normalised once: a string becomes one
user message; a message whose content is a string gets an ``input_text`` (or, for the
assistant, ``output_text``) part; every item gets an ``id`` when it has none. The normalised
list is what ``GET /v1/responses/{id}/input_items`` lists and what a later request with
``previous_response_id`` continues from.
"""

from __future__ import annotations

import secrets
from typing import Any

from agent.core.request import InvalidParam


def new_item_id(prefix: str) -> str:
    """A fresh id in OpenAI's style: ``<prefix>_<48 hex digits>``."""
    return f"{prefix}_{secrets.token_hex(24)}"


def input_items(value: Any) -> list[dict[str, Any]]:
    """The normalised items of a request's ``input``; raises `InvalidParam` on a malformed one."""
    if isinstance(value, str):
        return [_message("user", value)]
    if not isinstance(value, list):
        raise InvalidParam("input must be a string or a list of items", param="input")
    items: list[dict[str, Any]] = []
    for index, item in enumerate(value):
        if not isinstance(item, dict):
            raise InvalidParam(f"input[{index}] must be an object", param=f"input[{index}]")
        items.append(_normalised(item))
    return items


def _normalised(item: dict[str, Any]) -> dict[str, Any]:
    kind = item.get("type", "message")
    out = dict(item)
    if kind == "message":
        out["type"] = "message"
        content = item.get("content")
        if isinstance(content, str):
            out["content"] = [_text_part(item.get("role"), content)]
        out.setdefault("id", new_item_id("msg"))
    elif kind == "function_call":
        out.setdefault("id", new_item_id("fc"))
    elif kind == "function_call_output":
        out.setdefault("id", new_item_id("fco"))
    return out


def _message(role: str, text: str) -> dict[str, Any]:
    return {
        "id": new_item_id("msg"),
        "type": "message",
        "role": role,
        "content": [_text_part(role, text)],
    }


def _text_part(role: Any, text: str) -> dict[str, Any]:
    if role == "assistant":
        return {"type": "output_text", "text": text, "annotations": []}
    return {"type": "input_text", "text": text}
