"""Continuing a broken stream on another model: what counts as content, when a stream may
be continued, and the request that asks the next model to go on where the first stopped.

A stream may be continued when the caller asked for one choice and what reached it so far
is plain text (no tool calls, no refusal): the next model receives the conversation plus the
partial answer, as an assistant prefill where the model supports one (it then writes only
what follows), else followed by a short instruction to continue without repeating.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Final

import msgspec

from agent.types import LLMRequest, Message, StreamChunk

CONTINUE_INSTRUCTION: Final = (
    "Your previous answer was cut off. Continue it exactly where it stopped, without "
    "repeating anything and without any preamble."
)


def is_content(chunk: StreamChunk) -> bool:
    """True for a chunk that carries part of the answer (text, a tool call, a refusal, or
    the end of a choice): the caller may see it, so nothing before it can be retried."""
    if chunk.text or chunk.finish_reason:
        return True
    payload = chunk.payload
    if payload is None:
        return False
    for choice in payload.get("choices") or ():
        delta = choice.get("delta") or {}
        if delta.get("content") or delta.get("tool_calls") or delta.get("refusal"):
            return True
        if choice.get("finish_reason"):
            return True
    return False


def can_continue(request: LLMRequest, delivered: Sequence[StreamChunk]) -> bool:
    """Whether a stream that broke after ``delivered`` may be continued on another model."""
    body = request.body
    if body is not None and body.get("n") not in (None, 1):
        return False
    for chunk in delivered:
        for choice in (chunk.payload or {}).get("choices") or ():
            delta = choice.get("delta") or {}
            if delta.get("tool_calls") or delta.get("refusal") or choice.get("index", 0) != 0:
                return False
    return True


def continuation_request(request: LLMRequest, partial: str, *, prefill: bool) -> LLMRequest:
    """``request`` (already aimed at the next model) extended with the partial answer."""
    added = [Message("assistant", partial)]
    if not prefill:
        added.append(Message("user", CONTINUE_INSTRUCTION))
    body = request.body
    if body is None:
        return msgspec.structs.replace(request, messages=(*request.messages, *added))
    wire: list[dict[str, Any]] = [{"role": m.role, "content": m.content} for m in added]
    extended = {**body, "messages": [*body.get("messages", []), *wire]}
    return msgspec.structs.replace(
        request, messages=(*request.messages, *added), body=extended, raw=None
    )
