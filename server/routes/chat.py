"""``POST /chat``: one question in, one JSON answer out, through the Answer pipeline."""

from __future__ import annotations

from typing import Annotated

import msgspec
from starlette.requests import Request
from starlette.responses import Response

from agent.pipeline import ChatRequest, ChatResponse, StreamOutcome
from agent.types import Message
from cache.prompt_cache import CacheMode
from server.accounting import answered_record, streamed_record
from server.auth import Caller, claimed_user
from server.cache_headers import CACHE_HEADER, semantic_hit_headers
from server.errors import APIError
from server.routes.admission import accounted, admit, elapsed_ms
from server.routes.body import decode_body, read_limited_body
from server.routes.disconnect import ClientGone, unless_client_leaves
from server.state import AppState

MAX_MESSAGE_CHARS = 32_000
MAX_ID_CHARS = 200


class ChatBody(msgspec.Struct, forbid_unknown_fields=True):
    """The JSON body of ``POST /chat``."""

    message: Annotated[str, msgspec.Meta(min_length=1, max_length=MAX_MESSAGE_CHARS)]
    session_id: Annotated[str, msgspec.Meta(min_length=1, max_length=MAX_ID_CHARS)] | None = None
    user_id: Annotated[str, msgspec.Meta(min_length=1, max_length=MAX_ID_CHARS)] | None = None
    cache: CacheMode = "default"
    model: str = "auto"
    agent: Annotated[str, msgspec.Meta(min_length=1, max_length=64)] | None = None
    """The configured agent to ask (also ``?agent=`` on ``POST /chat``); default: the
    tenant's or the gateway's default agent."""


_decoder = msgspec.json.Decoder(ChatBody)
_encoder = msgspec.json.Encoder()


@accounted("chat")
async def post_chat(state: AppState, request: Request, caller: Caller, started: float) -> Response:
    """One question in, one JSON answer out."""
    raw = await read_limited_body(
        request,
        state.settings.server.max_body_bytes,
        timeout_s=state.settings.server.body_read_timeout_s,
    )
    body = decode_body(raw, _decoder)
    chat = ChatRequest(
        messages=(Message("user", body.message),),
        session_id=body.session_id,
        user_id=claimed_user(caller, body.user_id),
        authenticated=caller.authenticated,
        tenant=caller.tenant,
        cache=body.cache,
        model=body.model,
    )
    agent = state.components.agents.select(
        body.agent or request.query_params.get("agent"), caller.tenant, body.session_id
    )
    limit_headers = await admit(state, caller, chat)
    outcome = StreamOutcome()
    try:
        result = await unless_client_leaves(request, lambda: agent.answer(chat, outcome=outcome))
    except ClientGone:
        return await _abandoned(state, caller, outcome, started)
    record = answered_record("chat", caller, result, latency_ms=elapsed_ms(started))
    await state.components.cost.accounting.finish(record, caller)
    await state.components.experiments.record(
        result.request_id,
        result.agent,
        result.variant,
        cost_usd_micros=result.cost_usd_micros,
        latency_ms=result.latency_ms.get("total", 0.0),
        cache_hit=result.cache is not None,
        fallback=result.used_fallback,
    )
    return Response(
        _encoder.encode(result),
        media_type="application/json",
        headers={
            "x-request-id": result.request_id,
            **_cache_headers(result),
            **limit_headers,
            **outcome.headers,
        },
    )


def _cache_headers(result: ChatResponse) -> dict[str, str]:
    # The same headers as the wire routes, so a client reads a hit the same way everywhere;
    # the matched question is not in the answer, so /chat gives only the score.
    score = result.cache_diagnostics.semantic_score if result.cache == "semantic" else None
    headers = {CACHE_HEADER: result.cache or "miss"}
    return headers | semantic_hit_headers(score, None, show_match=False)


async def _abandoned(
    state: AppState, caller: Caller, outcome: StreamOutcome, started: float
) -> Response:
    # The client left: the turn was cancelled, and what its upstream calls produced until
    # then is billed like a cancelled stream's. Nobody reads the 499.
    if outcome.meta is None:  # gone before the turn began: nothing was produced
        raise APIError("client_closed_request", "the client closed the connection")
    record = streamed_record("chat", caller, outcome.meta, outcome, latency_ms=elapsed_ms(started))
    await state.components.cost.accounting.finish(record, caller)
    return Response(status_code=499)
