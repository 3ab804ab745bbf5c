"""A caller's Anthropic Messages body as a `CompletionRequest` (``protocol="anthropic"``).

The body travels on whole (unknown fields too) and its exact bytes with it; only what
Frugal acts on is read into the request: the model, a plain-text view of the conversation
(the system prompt as a ``system`` turn, text blocks joined) for routing, token counts and
the semantic cache, streaming, sampling and the answer cap. Anything else in a block
(images, documents, tool use and results, thinking) marks the request as not text-only,
which keeps it out of the semantic cache.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

import msgspec

from agent import untrusted_json
from agent.core.request import (
    CompletionRequest,
    InvalidParam,
    check_model_name,
    decode_json_object,
    param_of,
    without_path,
)
from agent.types import Message

PROTOCOL: Final = "anthropic"
FORWARDED_HEADER_PREFIX: Final = "anthropic-"
"""Caller headers forwarded to an Anthropic provider (``anthropic-beta``, ...)."""


class _MessageView(msgspec.Struct, frozen=True):
    role: str
    content: str | list[dict[str, Any]]


class _MetadataView(msgspec.Struct, frozen=True):
    user_id: str | None = None


class _BodyView(msgspec.Struct, frozen=True):
    # Lenient: every field not named here is ignored by the view (and kept in the body).
    model: str
    messages: list[_MessageView]
    max_tokens: int | None = None
    system: str | list[dict[str, Any]] | None = None
    stream: bool | None = None
    temperature: float | None = None
    tools: list[Any] | None = None
    metadata: _MetadataView | None = None


_view_decoder: Final = msgspec.json.Decoder(_BodyView)


def decode_messages_request(
    raw: bytes,
    *,
    tenant: str = "default",
    cache: str = "default",
    headers: Mapping[str, str] | None = None,
    counting: bool = False,
) -> CompletionRequest:
    """Decode ``raw``; raises `InvalidParam` naming the first field Frugal cannot act on.

    ``headers`` are the caller's HTTP headers: the ``anthropic-*`` ones ride along for a
    native call. ``counting``: a ``count_tokens`` body, which has no ``max_tokens``.
    """
    body = decode_json_object(raw)
    try:
        view = untrusted_json.decode(raw, _view_decoder)
    except msgspec.ValidationError as exc:
        raise InvalidParam(without_path(str(exc)), param=param_of(str(exc))) from exc
    check_model_name(view.model)
    if not view.messages:
        raise InvalidParam("messages must hold at least one message", param="messages")
    if view.max_tokens is None and not counting:
        raise InvalidParam("max_tokens is required", param="max_tokens")
    if view.max_tokens is not None and view.max_tokens < 1:
        raise InvalidParam("max_tokens must be at least 1", param="max_tokens")
    if view.temperature is not None and not 0.0 <= view.temperature <= 1.0:
        raise InvalidParam("temperature must be between 0 and 1", param="temperature")
    messages, text_only = _text_view(view)
    forwarded = {
        name: value
        for name, value in (headers or {}).items()
        if name.lower().startswith(FORWARDED_HEADER_PREFIX)
    }
    return CompletionRequest(
        body=body,
        raw=raw,
        model=view.model,
        messages=messages,
        stream=bool(view.stream),
        include_usage=True,  # the Messages stream always reports usage
        temperature=view.temperature,
        seed=None,
        n=1,
        max_tokens=view.max_tokens,
        text_only=text_only,
        has_tools=bool(view.tools),
        tenant=tenant,
        cache=cache,
        user_id=view.metadata.user_id if view.metadata else None,
        protocol=PROTOCOL,
        headers=forwarded or None,
    )


def _text_view(view: _BodyView) -> tuple[tuple[Message, ...], bool]:
    out: list[Message] = []
    text_only = True
    if view.system is not None:
        text, plain = _text_of(view.system, "system")
        text_only = text_only and plain
        out.append(Message("system", text))
    for index, message in enumerate(view.messages):
        if message.role not in ("user", "assistant"):
            raise InvalidParam(
                f"unknown message role {message.role!r}: expected user or assistant",
                param=f"messages[{index}].role",
            )
        text, plain = _text_of(message.content, f"messages[{index}].content")
        text_only = text_only and plain
        out.append(Message("user" if message.role == "user" else "assistant", text))
    return tuple(out), text_only


def _text_of(content: str | list[dict[str, Any]], where: str) -> tuple[str, bool]:
    if isinstance(content, str):
        return content, True
    texts: list[str] = []
    plain = True
    for index, block in enumerate(content):
        kind = block.get("type")
        if not isinstance(kind, str):
            raise InvalidParam("a content block needs a type", param=f"{where}[{index}].type")
        if kind == "text" and isinstance(block.get("text"), str):
            texts.append(block["text"])
        elif kind == "tool_result":
            plain = False
            inner = block.get("content")
            if isinstance(inner, str):
                texts.append(inner)
            elif isinstance(inner, list):
                texts.extend(
                    b["text"]
                    for b in inner
                    if isinstance(b, dict) and isinstance(b.get("text"), str)
                )
        else:
            plain = False
    return "\n".join(texts), plain
