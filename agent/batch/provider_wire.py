"""A batch line as a provider's batch API takes it, and the provider's answer back in the two
shapes the lane needs, through the same paths as the interactive endpoints.

A line already in the provider's protocol goes as the caller wrote it (only ``model`` is the
provider's name for it), like ``/v1/messages`` to an Anthropic model or ``/v1/chat/completions``
to an OpenAI one; a line in the other protocol is translated by `agent.anthropic_translate`,
the translator those endpoints use (Messages → Chat Completions for an OpenAI-compatible
provider, Chat Completions → Messages for Anthropic). Answers come back as the caller's
protocol expects them: a native answer as the provider sent it, anything else translated;
plus an OpenAI ``chat.completion`` for usage and the caches, which keep that shape.
"""

from __future__ import annotations

import secrets
import time
from typing import Any, Final, Literal

from agent.anthropic_translate import (
    anthropic_to_openai_request,
    anthropic_to_openai_response,
    openai_to_anthropic_message,
    openai_to_anthropic_request,
)
from agent.batch.lines import Line

ProviderWire = Literal["openai", "anthropic"]
URLS: Final = {"openai": "/v1/chat/completions", "anthropic": "/v1/messages"}
"""The ``url`` of a provider batch line, by the provider's wire."""
DEFAULT_MAX_TOKENS: Final = 4096
"""The answer cap Anthropic requires when a Chat Completions line names none."""


def provider_body(line: Line, *, upstream_model: str, wire: ProviderWire) -> dict[str, Any]:
    """The body ``line`` is sent as in a provider batch on ``wire``. Raises
    `agent.anthropic_translate.UntranslatableField` naming a field the other protocol cannot
    express (the line then fails alone)."""
    if line.protocol == wire:
        body = {**line.body, "model": upstream_model}
        body.pop("stream", None)  # a batch line is never streamed (the planner refused those)
        return body
    if wire == "openai":
        return anthropic_to_openai_request(line.body, model=upstream_model)
    params = openai_to_anthropic_request(
        line.body, model=upstream_model, default_max_tokens=DEFAULT_MAX_TOKENS, stream=False
    )
    params.pop("stream", None)
    return params


def answer_shapes(
    body: dict[str, Any], *, wire: ProviderWire, protocol: str
) -> tuple[dict[str, Any], dict[str, Any]]:
    """(the answer as an OpenAI ``chat.completion``, the answer in the line's ``protocol``)
    for a provider's successful answer ``body`` on ``wire``."""
    if wire == "openai":
        completion = body
    else:
        completion = anthropic_to_openai_response(
            body, completion_id=f"chatcmpl-{body.get('id', '')}", created=int(time.time())
        )
    return completion, caller_answer(
        completion, protocol, native=body if wire != "openai" else None
    )


def caller_answer(
    completion: dict[str, Any], protocol: str, *, native: dict[str, Any] | None = None
) -> dict[str, Any]:
    """The answer a line of ``protocol`` gets: the provider's ``native`` Messages answer when
    there is one, else ``completion`` as is (Chat Completions) or translated to a Messages
    ``message`` (as ``/v1/messages`` replays a cache hit or an OpenAI-compatible answer)."""
    if protocol != "anthropic":
        return completion
    if native is not None:
        return native
    return openai_to_anthropic_message(completion, message_id=f"msg_{secrets.token_hex(12)}")
