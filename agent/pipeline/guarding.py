"""The guard in an Agent turn (see `agent.guard`): the caller's messages and the stored
history redacted and flagged before the caches, the history and the provider see them; tool
results flagged (withheld in the block mode) and redacted before they enter the prompt; the
caller's own values put back into the tokens only the caller receives (reversible mode).
"""

from __future__ import annotations

from collections.abc import AsyncGenerator
from contextlib import aclosing

import msgspec

from agent.guard import GuardSession
from agent.history import HistoryRecord
from agent.pipeline.request import ChatRequest
from agent.pipeline.response import Done, Error, StreamEvent, Token
from agent.tools.base import ToolResult
from agent.types import Message


def guard_turn(
    session: GuardSession, request: ChatRequest, history: HistoryRecord
) -> tuple[ChatRequest, HistoryRecord]:
    """The request and history with their personal data redacted (history stored before
    the guard was turned on included); raises `PromptInjectionBlocked` in the block mode
    when a user message matches an injection rule."""
    for message in history.messages:
        session.reserve(message.content)
    if history.summary:
        session.reserve(history.summary)
    for message in request.messages:
        if message.role == "user":
            session.check_input(message.content)
    messages = _redact(session, request.messages)
    past = _redact(session, history.messages)
    summary = session.redact_input(history.summary) if history.summary else history.summary
    session.finish_input()
    if messages is not request.messages:
        request = msgspec.structs.replace(request, messages=messages)
    if past is not history.messages or summary != history.summary:
        history = msgspec.structs.replace(history, messages=past, summary=summary)
    return request, history


def _redact(session: GuardSession, messages: tuple[Message, ...]) -> tuple[Message, ...]:
    out = tuple(
        Message(m.role, session.redact_input(m.content)) if m.content else m for m in messages
    )
    return messages if out == messages else out


def guard_tool_results(session: GuardSession, results: list[ToolResult]) -> list[ToolResult]:
    """Tool outputs as the prompt may carry them: flagged, withheld or redacted."""
    out = []
    for result in results:
        if result.output is not None and result.output.content:
            content = session.tool_result(result.name, result.output.content)
            if content != result.output.content:
                output = msgspec.structs.replace(result.output, content=content)
                result = msgspec.structs.replace(result, output=output)
        out.append(result)
    session.finish_input()
    return out


async def restore_tokens(
    session: GuardSession, events: AsyncGenerator[StreamEvent, None]
) -> AsyncGenerator[StreamEvent, None]:
    """``events`` with the request's placeholders restored in the tokens, which are held
    back while a placeholder may be split between two of them."""
    restorer = None
    async with aclosing(events):
        async for event in events:
            if isinstance(event, Token) and session.policy.reversible:
                restorer = restorer or session.restorer()
                text = restorer.feed(event.text)
                if text or event.model:
                    yield Token(text, event.model)
                continue
            if isinstance(event, Done | Error) and restorer is not None:
                held = restorer.flush()
                if held:
                    yield Token(held)
            yield event
