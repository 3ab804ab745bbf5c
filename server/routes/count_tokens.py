"""``POST /v1/messages/count_tokens``: the input tokens of a Messages request.

An Anthropic model's count comes from Anthropic (the caller's body forwarded, only the model
name replaced when an alias resolves to another); any other model's is counted here with
its tokenizer (`agent.tokens`): the conversation's text plus the tool definitions. The
answer is ``{"input_tokens": N}`` either way; errors are in Anthropic's shape.
"""

from __future__ import annotations

from typing import Final

import msgspec
from starlette.requests import Request
from starlette.responses import Response

from agent.anthropic_client import AnthropicClient, native_body
from agent.core import decode_messages_request
from agent.tokens import count_message_tokens, count_text_tokens
from agent.types import LLMRequest
from server.auth import Caller
from server.registry_config import ANTHROPIC_DEFAULT_BASE_URL
from server.routes.admission import accounted
from server.routes.body import read_limited_body
from server.routes.wire_run import check_model
from server.state import AppState

ENDPOINT: Final = "messages.count_tokens"
_encoder: Final = msgspec.json.Encoder()


class InputTokens(msgspec.Struct, frozen=True):
    """The answer: the prompt's input tokens."""

    input_tokens: int


@accounted(ENDPOINT)
async def count_tokens(
    state: AppState, request: Request, caller: Caller, started: float
) -> Response:
    """Count one Messages request's input tokens."""
    raw = await read_limited_body(
        request,
        state.settings.server.max_body_bytes,
        timeout_s=state.settings.server.body_read_timeout_s,
    )
    wire = decode_messages_request(
        raw, tenant=caller.tenant, headers=dict(request.headers), counting=True
    )
    check_model(state, wire.model)
    registry = state.components.registry
    model = state.settings.models.cheap if registry.is_auto(wire.model) else wire.model
    resolved = registry.resolve(model)
    if resolved.provider.kind == "anthropic":
        provider = resolved.provider
        client = AnthropicClient(
            state.session,
            base_url=provider.base_url or ANTHROPIC_DEFAULT_BASE_URL,
            api_key=provider.api_key or "",
            timeout_s=provider.read_timeout_s or state.settings.providers.read_timeout_s,
            name=provider.name,
        )
        upstream = LLMRequest(
            model=resolved.upstream_name, messages=wire.messages, body=wire.body, raw=raw
        )
        answer = await client.count_tokens(native_body(upstream, wire.body), wire.headers)
        return Response(answer, media_type="application/json")
    tokens = count_message_tokens(wire.messages, resolved.upstream_name)
    tools = wire.body.get("tools")
    if isinstance(tools, list) and tools:
        tokens += count_text_tokens(_encoder.encode(tools).decode(), resolved.upstream_name)
    return Response(_encoder.encode(InputTokens(tokens)), media_type="application/json")
