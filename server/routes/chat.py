"""``POST /chat``: one question in, one JSON answer out."""

from __future__ import annotations

import time
import uuid
from typing import Annotated

import msgspec
from starlette.requests import Request
from starlette.responses import Response

from agent.types import LLMRequest, Message
from server.errors import error_response, response_for_exception
from server.routes.body import decode_body, read_limited_body

MAX_MESSAGE_CHARS = 32_000


class ChatBody(msgspec.Struct, forbid_unknown_fields=True):
    message: Annotated[str, msgspec.Meta(min_length=1, max_length=MAX_MESSAGE_CHARS)]
    model: str | None = None
    session_id: str | None = None
    user_id: str | None = None


class UsageOut(msgspec.Struct):
    prompt: int
    cached_prompt: int
    completion: int


class ChatOut(msgspec.Struct):
    answer: str
    model: str
    simulated: bool
    used_fallback: bool
    fallback_reason: str | None
    usage: UsageOut
    latency_ms: dict[str, float]
    request_id: str


_decoder = msgspec.json.Decoder(ChatBody)
_encoder = msgspec.json.Encoder()


async def post_chat(request: Request) -> Response:
    state = request.app.state.frugal
    request_id = uuid.uuid4().hex
    started = time.perf_counter()
    try:
        raw = await read_limited_body(request, state.settings.server.max_body_bytes)
        body = decode_body(raw, _decoder)
        if not body.message.strip():
            return error_response("invalid_request", "message must not be blank")
        llm_request = LLMRequest(
            model=body.model or state.settings.models.cheap,
            messages=(Message("user", body.message),),
            user=body.user_id,
        )
        result = await state.llm.generate(llm_request)
    except Exception as exc:  # every failure becomes the JSON error the table maps it to
        return response_for_exception(exc, request_id=request_id)
    total_ms = (time.perf_counter() - started) * 1000
    out = ChatOut(
        answer=result.text,
        model=result.model,
        simulated=result.simulated,
        used_fallback=result.used_fallback,
        fallback_reason=result.fallback_reason,
        usage=UsageOut(
            prompt=result.usage.prompt,
            cached_prompt=result.usage.cached_prompt,
            completion=result.usage.completion,
        ),
        latency_ms={"total": round(total_ms, 3)},
        request_id=request_id,
    )
    return Response(
        _encoder.encode(out), media_type="application/json", headers={"x-request-id": request_id}
    )
