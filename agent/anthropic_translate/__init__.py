"""Pure translation between the OpenAI Chat Completions wire and the Anthropic Messages wire.

Both sides are plain JSON-compatible values (what ``msgspec.json.decode(body)`` returns); no
I/O happens here. Requests go OpenAI → Anthropic, answers and stream events come back; the
``inbound_*`` modules go the other way, for callers that speak the Messages API to a model
behind an OpenAI-compatible provider.
"""

from __future__ import annotations

from agent.anthropic_translate.errors import StreamError, UntranslatableField
from agent.anthropic_translate.inbound_request import anthropic_to_openai_request
from agent.anthropic_translate.inbound_response import (
    openai_to_anthropic_message,
    openai_usage_to_anthropic,
)
from agent.anthropic_translate.inbound_stream import EventTranslator
from agent.anthropic_translate.request import openai_to_anthropic_request
from agent.anthropic_translate.response import (
    anthropic_to_openai_response,
    anthropic_usage_to_openai,
    finish_reason,
)
from agent.anthropic_translate.stream import StreamTranslator

__all__ = [
    "EventTranslator",
    "StreamError",
    "StreamTranslator",
    "UntranslatableField",
    "anthropic_to_openai_request",
    "anthropic_to_openai_response",
    "anthropic_usage_to_openai",
    "finish_reason",
    "openai_to_anthropic_message",
    "openai_to_anthropic_request",
    "openai_usage_to_anthropic",
]
