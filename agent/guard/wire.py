"""The guard on OpenAI's Chat Completions wire: request bodies, answers and stream chunks.

Only message text is touched: string contents and ``text`` parts. Everything else in a body
(unknown fields, images, tool definitions, tool-call arguments) passes as it came.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, Callable, Iterator
from contextlib import aclosing
from typing import Any

import msgspec

from agent.guard.native import NativeText
from agent.guard.session import GuardSession
from agent.guard.streaming import PerChoice
from agent.types import LLMResponse, StreamChunk

_SCANNED_ROLES = {"user": "input", "tool": "tool", "function": "tool"}


def guard_body(session: GuardSession, body: dict[str, Any]) -> dict[str, Any] | None:
    """Flag and redact the messages of a Chat Completions ``body``: a new body when a text
    changed, None when nothing did. Raises `PromptInjectionBlocked` in the block mode."""
    messages = body.get("messages")
    if not isinstance(messages, list):
        return None
    session.reserve(msgspec.json.encode([messages, body.get("system")]).decode())
    out: list[Any] = []
    changed = False
    for message in messages:
        new = _guard_message(session, message)
        changed = changed or new is not message
        out.append(new)
    new_body = {**body, "messages": out} if changed else None
    system = body.get("system")  # an Anthropic Messages body keeps its system prompt here
    if isinstance(system, str | list):
        guarded = _guard_content(session, system, None)
        if guarded is not system:
            new_body = {**(new_body or body), "system": guarded}
    session.finish_input()
    return new_body


def _guard_message(session: GuardSession, message: Any) -> Any:
    if not isinstance(message, dict):
        return message
    source = _SCANNED_ROLES.get(str(message.get("role")))
    content = message.get("content")
    guarded = _guard_content(session, content, source)
    return message if guarded is content else {**message, "content": guarded}


def _guard_content(session: GuardSession, content: Any, source: str | None) -> Any:
    # A string, or parts: OpenAI's and Anthropic's ``text`` parts, and Anthropic's
    # ``tool_result`` blocks (a string or text blocks, scanned as tool output).
    if isinstance(content, str):
        if source is not None:
            session.check_input(content, source=source)
        new = session.redact_input(content)
        return content if new == content else new
    if not isinstance(content, list):
        return content
    parts: list[Any] = []
    changed = False
    for part in content:
        if (
            isinstance(part, dict)
            and part.get("type") == "text"
            and isinstance(part.get("text"), str)
        ):
            text = _guard_content(session, part["text"], source)
            if text is not part["text"]:
                part, changed = {**part, "text": text}, True
        elif isinstance(part, dict) and part.get("type") == "tool_result":
            inner = _guard_content(session, part.get("content"), "tool")
            if inner is not part.get("content"):
                part, changed = {**part, "content": inner}, True
        parts.append(part)
    return parts if changed else content


def map_completion(completion: dict[str, Any], change: Callable[[str], str]) -> dict[str, Any]:
    """``completion`` (a ``chat.completion``) with each choice's message text changed."""
    choices = completion.get("choices")
    if not isinstance(choices, list):
        return completion
    out = []
    for choice in choices:
        message = choice.get("message") if isinstance(choice, dict) else None
        content = message.get("content") if isinstance(message, dict) else None
        if isinstance(content, str):
            choice = {**choice, "message": {**message, "content": change(content)}}  # type: ignore[dict-item]
        out.append(choice)
    return {**completion, "choices": out}


def guard_response(session: GuardSession, response: LLMResponse) -> LLMResponse:
    """A whole answer with personal data redacted (before the caches and the caller)."""
    if not session.policy.redact_output:
        return response
    completion = response.completion
    if completion is not None:
        completion = map_completion(completion, session.redact_output)
    text = session.redact_output(response.text, count=completion is None)
    session.finish_output()
    # The provider's own bytes (an Anthropic answer) would carry what was redacted: the edge
    # then sends the redacted translation instead.
    native = response.native if text == response.text else None
    return msgspec.structs.replace(response, text=text, completion=completion, native=native)


def map_chunk(chunk: dict[str, Any], buffers: PerChoice) -> dict[str, Any]:
    """A ``chat.completion.chunk`` with each choice's delta text passed through ``buffers``
    (a choice's last chunk, with its ``finish_reason``, also empties its buffer)."""
    choices = chunk.get("choices")
    if not isinstance(choices, list) or not choices:
        return chunk
    out = []
    for choice in choices:
        if not isinstance(choice, dict):
            out.append(choice)
            continue
        delta = choice.get("delta")
        content = delta.get("content") if isinstance(delta, dict) else None
        final = choice.get("finish_reason") is not None
        if isinstance(content, str) or final:
            text = buffers.feed(int(choice.get("index") or 0), content or "", final=final)
            if text or isinstance(content, str):
                choice = {**choice, "delta": {**(delta or {}), "content": text}}
        out.append(choice)
    return {**chunk, "choices": out}


def held_chunk(template: dict[str, Any], held: dict[int, str]) -> dict[str, Any]:
    """A chunk carrying text a buffer still held when the stream ended, one choice per index."""
    choices = [
        {"index": i, "delta": {"content": text}, "finish_reason": None} for i, text in held.items()
    ]
    return {k: v for k, v in template.items() if k not in ("choices", "usage")} | {
        "choices": choices
    }


async def guard_chunks(
    session: GuardSession, chunks: AsyncGenerator[StreamChunk, None]
) -> AsyncGenerator[StreamChunk, None]:
    """The provider's stream with personal data redacted from the answer text (held back
    `streaming.WINDOW` characters at a time); provider bytes of a changed chunk are dropped
    so the relay re-encodes it."""
    if not session.policy.redact_output:
        async with aclosing(chunks):
            async for chunk in chunks:
                yield chunk
        return
    buffers = PerChoice(session.output_buffer)
    native = NativeText(session.output_buffer)
    template: dict[str, Any] = {"object": "chat.completion.chunk"}
    try:
        async with aclosing(chunks):
            async for chunk in chunks:
                if chunk.native is not None:  # the provider's own Anthropic events
                    template = chunk.payload or template
                    for guarded in _native_chunks(native, chunk, template):
                        yield guarded
                    continue
                if chunk.attempt_ended:  # the next attempt starts afresh: release this one's text
                    for extra in _release(buffers, template, chunk):
                        yield extra
                    yield chunk
                    continue
                if chunk.payload is not None:
                    template = chunk.payload
                    payload = map_chunk(chunk.payload, buffers)
                    text = (
                        _choice0(payload)
                        if chunk.text or payload is not chunk.payload
                        else chunk.text
                    )
                    if payload is not chunk.payload:
                        chunk = msgspec.structs.replace(chunk, payload=payload, raw=None, text=text)
                elif chunk.text or chunk.finish_reason:
                    text = buffers.feed(0, chunk.text, final=chunk.finish_reason is not None)
                    chunk = msgspec.structs.replace(chunk, text=text)
                yield chunk
        for extra in _release(buffers, template, None):
            yield extra
    finally:
        session.finish_output()


def _native_chunks(
    native: NativeText, chunk: StreamChunk, template: dict[str, Any]
) -> Iterator[StreamChunk]:
    assert chunk.native is not None
    *extras, (name, data, text) = native.events(*chunk.native)
    for extra_name, extra_data, extra_text in extras:  # text a stopping block still held
        payload = held_chunk(template, {0: extra_text or ""}) if "id" in template else None
        yield StreamChunk(
            text=extra_text or "",
            model=chunk.model,
            payload=payload,
            native=(extra_name, extra_data),
        )
    if (name, data) == chunk.native:
        yield chunk
        return
    payload = chunk.payload
    if payload is not None and text is not None:
        payload = map_completion_chunk_text(payload, text)
    yield msgspec.structs.replace(chunk, native=(name, data), payload=payload, text=text or "")


def map_completion_chunk_text(chunk: dict[str, Any], text: str) -> dict[str, Any]:
    """``chunk`` (a ``chat.completion.chunk``) with choice 0's delta text replaced."""
    choices = [
        {**c, "delta": {**(c.get("delta") or {}), "content": text}}
        if isinstance(c, dict) and int(c.get("index") or 0) == 0
        else c
        for c in chunk.get("choices") or ()
    ]
    return {**chunk, "choices": choices}


def _release(
    buffers: PerChoice, template: dict[str, Any], like: StreamChunk | None
) -> Iterator[StreamChunk]:
    held = buffers.held()
    if not held:
        return
    payload = held_chunk(template, held) if "id" in template else None
    model = like.model if like is not None else ""
    yield StreamChunk(text=held.get(0, ""), model=model, payload=payload)


def _choice0(payload: dict[str, Any]) -> str:
    for choice in payload.get("choices") or ():
        if isinstance(choice, dict) and int(choice.get("index") or 0) == 0:
            delta = choice.get("delta") or {}
            content = delta.get("content") if isinstance(delta, dict) else None
            return content if isinstance(content, str) else ""
    return ""
