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

from agent.tokens import count_text_tokens
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


def all_finished(delivered: Sequence[StreamChunk]) -> bool:
    """True when a finish reason was delivered for every choice seen (one choice for the
    text-only chunks of a client without a wire body)."""
    seen: set[int] = set()
    finished: set[int] = set()
    for chunk in delivered:
        if chunk.payload is None:
            seen.add(0)
            if chunk.finish_reason:
                finished.add(0)
            continue
        for choice in chunk.payload.get("choices") or ():
            index = choice.get("index", 0)
            seen.add(index)
            if choice.get("finish_reason"):
                finished.add(index)
    return bool(seen) and seen == finished


def can_continue(request: LLMRequest, delivered: Sequence[StreamChunk], partial: str) -> bool:
    """Whether a stream that broke after ``delivered`` (``partial`` its text) may be
    continued on another model: one choice, plain text so far, and some of the caller's
    token cap left for the rest. A Messages stream (``protocol="anthropic"``) is relayed event
    by event as its provider sent it, which a second attempt could not continue."""
    if request.protocol == "anthropic":
        return False
    body = request.body
    if body is not None and body.get("n") not in (None, 1):
        return False
    if remaining_tokens(request, partial) == 0:
        return False
    for chunk in delivered:
        for choice in (chunk.payload or {}).get("choices") or ():
            delta = choice.get("delta") or {}
            if delta.get("tool_calls") or delta.get("refusal") or choice.get("index", 0) != 0:
                return False
    return True


def remaining_tokens(request: LLMRequest, partial: str) -> int | None:
    """What is left of the caller's answer cap after ``partial`` (None: no cap)."""
    cap = _cap(request)
    if cap is None:
        return None
    return max(cap - count_text_tokens(partial, request.model), 0)


def continuation_request(request: LLMRequest, partial: str, *, prefill: bool) -> LLMRequest:
    """``request`` (already aimed at the next model) extended with the partial answer, its
    answer cap reduced by what was already produced."""
    added = [Message("assistant", partial)]
    if not prefill:
        added.append(Message("user", CONTINUE_INSTRUCTION))
    left = remaining_tokens(request, partial)
    max_tokens = request.max_tokens if left is None else left
    body = request.body
    if body is None:
        return msgspec.structs.replace(
            request, messages=(*request.messages, *added), max_tokens=max_tokens
        )
    wire: list[dict[str, Any]] = [{"role": m.role, "content": m.content} for m in added]
    extended = {**body, "messages": [*body.get("messages", []), *wire]}
    if left is not None:
        for key in ("max_completion_tokens", "max_tokens"):
            if body.get(key) is not None:
                extended[key] = left
    return msgspec.structs.replace(
        request,
        messages=(*request.messages, *added),
        body=extended,
        raw=None,
        max_tokens=max_tokens,
    )


def _cap(request: LLMRequest) -> int | None:
    body = request.body
    if body is not None:
        for key in ("max_completion_tokens", "max_tokens"):
            value = body.get(key)
            if isinstance(value, int) and not isinstance(value, bool):
                return value
        return None
    return request.max_tokens
