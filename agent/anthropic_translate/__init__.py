"""Pure translation between the OpenAI Chat Completions wire and the Anthropic Messages wire.

Both sides are plain JSON-compatible values (what ``msgspec.json.decode(body)`` returns); no
I/O happens here. Requests go OpenAI → Anthropic, answers and stream events come back.
"""

from __future__ import annotations

from agent.anthropic_translate.errors import StreamError, UntranslatableField
from agent.anthropic_translate.request import openai_to_anthropic_request
from agent.anthropic_translate.response import (
    anthropic_to_openai_response,
    anthropic_usage_to_openai,
    finish_reason,
)
from agent.anthropic_translate.stream import StreamTranslator

__all__ = [
    "StreamError",
    "StreamTranslator",
    "UntranslatableField",
    "anthropic_to_openai_response",
    "anthropic_usage_to_openai",
    "finish_reason",
    "openai_to_anthropic_request",
]
