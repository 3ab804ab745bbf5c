"""The guard as a stage of the core (see `agent.guard`): the request's messages redacted and
flagged before the caches and the provider see them, the answer's personal data redacted
before the caches and the caller see it, and, in the reversible mode, the caller's own values
put back into what only the caller receives (never into what is cached).
"""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncGenerator
from contextlib import aclosing
from typing import Any

import msgspec

from agent.core.events import CoreEvent, Flush, Head, Piece, Tail
from agent.core.request import CompletionRequest
from agent.guard.native import NativeText
from agent.guard.session import GuardSession
from agent.guard.streaming import PerChoice
from agent.guard.wire import guard_body, held_chunk, map_chunk, map_completion
from agent.types import Message


def guard_request(session: GuardSession, request: CompletionRequest) -> CompletionRequest:
    """``request`` with its messages redacted (its exact bytes re-encoded only when a text
    changed). Raises `PromptInjectionBlocked` in the block mode."""
    body = guard_body(session, request.body)
    if body is None:
        return request
    # The plain-text view (routing, token counts, semantic cache) as the provider will see it:
    # the same vault gives the same placeholders.
    messages = tuple(
        Message(m.role, session.redact_input(m.content, count=False)) for m in request.messages
    )
    raw = msgspec.json.encode(body)
    return dataclasses.replace(request, body=body, raw=raw, messages=messages)


async def guarded_events(
    session: GuardSession, events: AsyncGenerator[CoreEvent, None]
) -> AsyncGenerator[CoreEvent, None]:
    """``events`` as the caller receives them: the guard's headers on `Head` and `Tail`, and
    placeholders restored in pieces and the completion (reversible mode)."""
    buffers: PerChoice | None = None
    native: NativeText | None = None
    template: dict[str, Any] = {}
    async with aclosing(events):
        async for event in events:
            match event:
                case Head():
                    if session.restores:
                        buffers, native = PerChoice(session.restorer), NativeText(session.restorer)
                    yield dataclasses.replace(event, headers={**event.headers, **session.headers()})
                case Piece(native=(name, data)) if native is not None:
                    *extras, (new_name, new_data, _) = native.events(name, data)
                    for extra_name, extra_data, _ in extras:
                        yield Piece({}, None, True, native=(extra_name, extra_data))
                    same = (new_name, new_data) == (name, data)
                    yield event if same else dataclasses.replace(event, native=(new_name, new_data))
                case Piece() if buffers is not None:
                    template = event.chunk
                    chunk = map_chunk(event.chunk, buffers)
                    yield event if chunk is event.chunk else Piece(chunk, None, event.more)
                case Tail():
                    if buffers is not None and (held := buffers.held()):
                        yield Piece(held_chunk(template, held))
                        yield Flush()
                    completion = event.completion
                    if session.restores:
                        completion = map_completion(completion, session.restore)
                    yield dataclasses.replace(
                        event,
                        completion=completion,
                        # the provider's own bytes hold placeholders: send the translation
                        native=None if completion != event.completion else event.native,
                        headers={**event.headers, **session.output_headers()},
                    )
                case _:
                    yield event
