"""The guard on OpenAI's Chat Completions wire: request bodies, answers and stream chunks.

Only message text is touched: string contents and ``text`` parts. Everything else in a body
(unknown fields, images, tool definitions, tool-call arguments) passes as it came.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, Callable, Iterator
from contextlib import aclosing
from typing import Any

import msgspec

from agent.guard.session import GuardSession
from agent.guard.streaming import PlaceholderRestorer, StreamRedactor
from agent.types import LLMResponse, StreamChunk

_SCANNED_ROLES = {"user": "input", "tool": "tool", "function": "tool"}


def guard_body(session: GuardSession, body: dict[str, Any]) -> dict[str, Any] | None:
    """Flag and redact the messages of a Chat Completions ``body``: a new body when a text
    changed, None when nothing did. Raises `PromptInjectionBlocked` in the block mode."""
    messages = body.get("messages")
    if not isinstance(messages, list):
        return None
    for _, text in _texts(messages):
        session.reserve(text)
    out: list[Any] = []
    changed = False
    for message in messages:
        new = _guard_message(session, message)
        changed = changed or new is not message
        out.append(new)
    session.finish_input()
    return {**body, "messages": out} if changed else None


def _guard_message(session: GuardSession, message: Any) -> Any:
    if not isinstance(message, dict):
        return message
    source = _SCANNED_ROLES.get(str(message.get("role")))

    def guard(text: str) -> str:
        if source is not None:
            session.check_input(text, source=source)
        return session.redact_input(text)

    content = message.get("content")
    if isinstance(content, str):
        new = guard(content)
        return message if new == content else {**message, "content": new}
    if not isinstance(content, list):
        return message
    parts: list[Any] = []
    changed = False
    for part in content:
        if (
            isinstance(part, dict)
            and part.get("type") == "text"
            and isinstance(part.get("text"), str)
        ):
            text = guard(part["text"])
            if text != part["text"]:
                part, changed = {**part, "text": text}, True
        parts.append(part)
    return {**message, "content": parts} if changed else message


def _texts(messages: list[Any]) -> Iterator[tuple[str, str]]:
    for message in messages:
        if not isinstance(message, dict):
            continue
        content = message.get("content")
        role = str(message.get("role"))
        if isinstance(content, str):
            yield role, content
        elif isinstance(content, list):
            for part in content:
                if isinstance(part, dict) and isinstance(part.get("text"), str):
                    yield role, part["text"]


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
    return msgspec.structs.replace(response, text=text, completion=completion)


class PerChoice:
    """One hold-back buffer per choice index (``make`` makes one)."""

    def __init__(
        self, make: Callable[[], StreamRedactor] | Callable[[], PlaceholderRestorer]
    ) -> None:
        self._make: Callable[[], StreamRedactor | PlaceholderRestorer] = make
        self._buffers: dict[int, StreamRedactor | PlaceholderRestorer] = {}

    def feed(self, index: int, text: str, *, final: bool) -> str:
        """What choice ``index`` may send now (everything held, when ``final``)."""
        buffer = self._buffers.get(index)
        if buffer is None:
            buffer = self._buffers[index] = self._make()
        out = buffer.feed(text)
        return out + buffer.flush() if final else out

    def held(self) -> dict[int, str]:
        """Empty every buffer: what each still held, by choice index."""
        out = {i: b.flush() for i, b in self._buffers.items()}
        return {i: text for i, text in out.items() if text}


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
    template: dict[str, Any] = {"object": "chat.completion.chunk"}
    try:
        async with aclosing(chunks):
            async for chunk in chunks:
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
