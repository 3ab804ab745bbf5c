"""`CompletionRequest`: a caller's OpenAI Chat Completions body, as the core carries it.

Only the fields Frugal acts on are decoded into a typed view (model, messages, stream,
sampling, n, max tokens); the whole body travels on as the caller sent it, unknown fields
included, so the provider receives it unchanged.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Final

import msgspec

from agent import untrusted_json
from agent.errors import InvalidModelName, InvalidRequest
from agent.model_specs import validate_model_name
from agent.types import Message

MAX_N: Final = 128
# msgspec names the failing field at the end of its message: "... - at `$.messages[0].role`"
_PATH: Final = re.compile(r" - at `\$\.?(?P<path>[^`]*)`$")
_MISSING: Final = re.compile(r"Object missing required field `(?P<field>[^`]+)`")


class InvalidParam(InvalidRequest):
    """A request field Frugal must understand is malformed; ``param`` names it."""

    def __init__(self, message: str, *, param: str | None, reason: str = "invalid_request"):
        super().__init__(message, reason=reason)
        self.param = param


class _MessageView(msgspec.Struct, frozen=True):
    role: str
    content: str | list[dict[str, Any]] | None = None
    tool_calls: list[Any] | None = None


class _StreamOptions(msgspec.Struct, frozen=True):
    include_usage: bool | None = None


class _BodyView(msgspec.Struct, frozen=True):
    # Lenient: every field not named here is ignored by the view (and kept in the body).
    model: str
    messages: list[_MessageView]
    stream: bool | None = None
    stream_options: _StreamOptions | None = None
    temperature: float | None = None
    seed: int | None = None
    n: int | None = None
    max_tokens: int | None = None
    max_completion_tokens: int | None = None
    tools: list[Any] | None = None


_view_decoder: Final = msgspec.json.Decoder(_BodyView)


@dataclass(frozen=True, slots=True)
class CompletionRequest:
    """One chat completion on its way through the core.

    ``body`` is the caller's decoded JSON (every field), ``raw`` its exact bytes; ``model``
    the requested name (``auto`` or an alias lets the router choose). ``messages`` is a
    plain-text view of the conversation (content parts' text joined) for token counts,
    routing and the semantic cache. ``temperature`` is None when the caller left it to the
    provider's default (1 for OpenAI and Anthropic).
    """

    body: dict[str, Any]
    raw: bytes | None
    model: str
    messages: tuple[Message, ...]
    stream: bool
    include_usage: bool
    temperature: float | None
    seed: int | None
    n: int
    max_tokens: int | None
    text_only: bool
    has_tools: bool
    tenant: str = "default"
    cache: str = "default"
    user_id: str | None = None
    protocol: str = "openai"
    """``openai`` (a Chat Completions body) or ``anthropic`` (a Messages body, see
    `agent.core.messages_request`)."""
    headers: dict[str, str] | None = None
    """Protocol headers to forward to a provider that speaks ``protocol`` (``anthropic-*``)."""


def decode_json_object(raw: bytes) -> dict[str, Any]:
    """``raw`` as a JSON object; raises `InvalidParam` for anything else."""
    try:
        body = untrusted_json.decode(raw, untrusted_json.ANY)
    except msgspec.DecodeError as exc:
        raise InvalidParam(f"the body is not valid JSON: {exc}", param=None) from exc
    if not isinstance(body, dict):
        raise InvalidParam("the body must be a JSON object", param=None)
    return body


def decode_completion_request(
    raw: bytes, *, tenant: str = "default", cache: str = "default"
) -> CompletionRequest:
    """Decode ``raw``; raises `InvalidParam` naming the first field Frugal cannot act on."""
    body = decode_json_object(raw)
    try:
        view = untrusted_json.decode(raw, _view_decoder)
    except msgspec.ValidationError as exc:
        raise InvalidParam(without_path(str(exc)), param=param_of(str(exc))) from exc
    return from_view(body, raw, view, tenant=tenant, cache=cache)


def from_view(
    body: dict[str, Any], raw: bytes | None, view: _BodyView, *, tenant: str, cache: str
) -> CompletionRequest:
    check_model_name(view.model)
    if not view.messages:
        raise InvalidParam("messages must hold at least one message", param="messages")
    n = 1 if view.n is None else view.n
    if not 1 <= n <= MAX_N:
        raise InvalidParam(f"n must be between 1 and {MAX_N}", param="n")
    if view.temperature is not None and not 0.0 <= view.temperature <= 2.0:
        raise InvalidParam("temperature must be between 0 and 2", param="temperature")
    max_tokens = view.max_completion_tokens or view.max_tokens
    if max_tokens is not None and max_tokens < 1:
        param = "max_completion_tokens" if view.max_completion_tokens else "max_tokens"
        raise InvalidParam(f"{param} must be at least 1", param=param)
    messages, text_only = _text_view(view.messages)
    user = body.get("user")
    return CompletionRequest(
        body=body,
        raw=raw,
        model=view.model,
        messages=messages,
        stream=bool(view.stream),
        include_usage=bool(view.stream_options and view.stream_options.include_usage),
        temperature=view.temperature,
        seed=view.seed,
        n=n,
        max_tokens=max_tokens,
        text_only=text_only,
        has_tools=bool(view.tools),
        tenant=tenant,
        cache=cache,
        user_id=user if isinstance(user, str) else None,
    )


def check_model_name(model: str) -> None:
    """Refuse names no provider could mean before anything is forwarded (see
    `agent.model_specs.validate_model_name`): `InvalidParam` naming ``model``."""
    try:
        validate_model_name(model)
    except InvalidModelName as exc:
        raise InvalidParam(str(exc), param="model", reason="invalid_model") from exc


def _text_view(messages: list[_MessageView]) -> tuple[tuple[Message, ...], bool]:
    out: list[Message] = []
    text_only = True
    for m in messages:
        role = "system" if m.role == "developer" else m.role
        if role not in ("system", "user", "assistant", "tool"):
            raise InvalidParam(f"unknown message role {m.role!r}", param="messages.role")
        if m.tool_calls or role == "tool":
            text_only = False
        content = m.content
        if isinstance(content, list):
            texts = []
            for part in content:
                if part.get("type") == "text" and isinstance(part.get("text"), str):
                    texts.append(part["text"])
                else:
                    text_only = False
            content = "\n".join(texts)
        out.append(Message(role, content or ""))  # type: ignore[arg-type]  # checked above
    return tuple(out), text_only


def param_of(message: str) -> str | None:
    """The request field a msgspec validation message is about: its ``$.path`` suffix, plus
    the name of a missing required field (which msgspec gives only in the text)."""
    found = _PATH.search(message)
    path = found.group("path") if found else ""
    missing = _MISSING.match(message)
    if missing is not None:
        path = f"{path}.{missing.group('field')}" if path else missing.group("field")
    return path or None


def without_path(message: str) -> str:
    """A msgspec validation message without its ``$.path`` suffix (`param_of` gives it)."""
    return _PATH.sub("", message)
