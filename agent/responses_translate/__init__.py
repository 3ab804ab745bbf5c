"""Pure translation between the OpenAI Responses API and the Chat Completions wire the
completion core speaks.

Requests go Responses → chat body (`responses_to_chat`); whole answers come back as a Response
object (`chat_to_response`), streamed chunks as Responses events (`ResponseEvents`). Values
are plain JSON-compatible data; no I/O happens here.
"""

from __future__ import annotations

from agent.responses_translate.items import input_items, new_item_id
from agent.responses_translate.request import ChatTranslation, responses_to_chat
from agent.responses_translate.response import (
    ResponseContext,
    chat_to_response,
    echo_of,
    output_of,
)
from agent.responses_translate.stream import ResponseEvents

__all__ = [
    "ChatTranslation",
    "ResponseContext",
    "ResponseEvents",
    "chat_to_response",
    "echo_of",
    "input_items",
    "new_item_id",
    "output_of",
    "responses_to_chat",
]
