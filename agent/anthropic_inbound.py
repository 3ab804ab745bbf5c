"""A caller's Anthropic Messages body sent to an OpenAI-compatible provider: the request is
translated to Chat Completions here (`agent.anthropic_translate.inbound_request`); the
answer comes back in OpenAI's shape and the ``/v1/messages`` edge translates it back."""

from __future__ import annotations

import msgspec

from agent.anthropic_translate import UntranslatableField, anthropic_to_openai_request
from agent.errors import UntranslatableRequest
from agent.types import LLMRequest


def as_chat_request(request: LLMRequest, *, provider: str) -> LLMRequest:
    """``request`` with its Messages body translated to a Chat Completions body (unchanged
    when it already speaks OpenAI). Raises `UntranslatableRequest` naming the field an
    OpenAI-compatible model cannot take, before anything is sent."""
    if request.protocol != "anthropic" or request.body is None:
        return request
    try:
        body = anthropic_to_openai_request(request.body, model=request.model)
    except UntranslatableField as exc:
        raise UntranslatableRequest(
            f"{exc} (model {request.model} is served by an OpenAI-compatible provider)",
            provider=provider,
            param=exc.param,
        ) from exc
    return msgspec.structs.replace(request, body=body, raw=None, protocol="openai", headers=None)
