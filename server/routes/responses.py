"""``POST /v1/responses``: the OpenAI Responses API, as a thin adapter over the core.

The Responses request is translated to a chat completions body
(`agent.responses_translate`), with the stored conversation of ``previous_response_id``
placed before its input, and run through the same core as ``/v1/chat/completions``: caches,
routing (``auto`` and aliases), fallback, budgets, rate limits and micro-USD accounting apply
unchanged, and an Anthropic model is reached through the existing translation. The answer
comes back as a Response object, or as Responses stream events each with its
``sequence_number``. With ``store`` (the default, as in OpenAI) the response and its input
items are kept per tenant in the configured store (`cache.response_store`).

Caching: the translation is deterministic, so a Responses request and a chat completion whose
translated chat bodies are identical share one exact-cache key. That is safe because the key
covers everything that reaches the provider (the whole chat body, model and tenant) and the
Response is rebuilt from the cached chat completion on every read (fresh ids, this request's
echoed parameters), exactly as that completion would have been translated on a miss.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from functools import partial
from typing import Any, Final

import msgspec
from starlette.requests import Request
from starlette.responses import Response

from agent.core import InvalidParam, Piece, Tail, decode_completion_request
from agent.core.request import decode_json_object
from agent.responses_translate import (
    ResponseContext,
    ResponseEvents,
    chat_to_response,
    echo_of,
    responses_to_chat,
)
from cache.response_store import StoredResponse
from server.auth import Caller
from server.errors import APIError
from server.openai_errors import openai_error
from server.routes.admission import accounted
from server.routes.wire_run import WireRun, frugal_info, read_wire, tail_headers
from server.state import AppState

ENDPOINT: Final = "responses"
_encoder: Final = msgspec.json.Encoder()

Keep = Callable[[dict[str, Any]], Awaitable[None]]


class NotFound(APIError):
    """404 in OpenAI's shape; ``param`` names the field that held the unknown id."""

    def __init__(self, message: str, *, param: str | None = None) -> None:
        super().__init__("not_found", message)
        self.param = param


@accounted(ENDPOINT)
async def create_response(
    state: AppState, request: Request, caller: Caller, started: float
) -> Response:
    """Answer one Responses request, whole or as a server-sent event stream."""
    raw, cache = await read_wire(state, request)
    body = decode_json_object(raw)
    context = await _context(state, caller, body.get("previous_response_id"))
    translation = responses_to_chat(body, context=context)
    wire = decode_completion_request(
        _encoder.encode(translation.body), tenant=caller.tenant, cache=cache
    )
    run = await WireRun.start(state, ENDPOINT, caller, started, wire)
    response_context = ResponseContext(
        f"resp_{run.head.request_id}", int(time.time()), echo_of(body)
    )
    keep: Keep | None = None
    if body.get("store", True) is not False:
        keep = partial(_keep, state, caller.tenant, translation.input_items, context)
    if wire.stream:
        return run.stream(ResponseFrames(ResponseEvents(response_context, run.head.model), keep))
    tail = await run.whole()
    response = chat_to_response(tail.completion, response_context)
    if keep is not None:
        await keep(response)
    return Response(
        _encoder.encode({**response, "frugal": frugal_info(run.head, tail)}),
        media_type="application/json",
        headers={**run.headers, **tail_headers(tail)},
    )


async def _context(state: AppState, caller: Caller, previous: Any) -> list[dict[str, Any]]:
    if previous is None:
        return []
    if not isinstance(previous, str):
        raise InvalidParam("previous_response_id must be a string", param="previous_response_id")
    stored = await state.components.responses.get(caller.tenant, previous)
    if stored is None:
        raise NotFound(
            f"Previous response with id '{previous[:200]}' not found.",
            param="previous_response_id",
        )
    return stored.conversation()


async def _keep(
    state: AppState,
    tenant: str,
    input_items: list[dict[str, Any]],
    context: list[dict[str, Any]],
    response: dict[str, Any],
) -> None:
    stored = StoredResponse(response=response, input_items=input_items, context=context)
    await state.components.responses.put(tenant, stored)


class ResponseFrames:
    """The core's chunks as Responses events; the response is stored before
    ``response.completed`` is sent, so a caller may continue from it as soon as it reads
    that event."""

    done = b""

    def __init__(self, writer: ResponseEvents, keep: Keep | None) -> None:
        self._writer = writer
        self._keep = keep
        self._opened = False

    def _opening(self) -> bytes:
        if self._opened:
            return b""
        self._opened = True
        return _sse(self._writer.start())

    def piece(self, piece: Piece) -> bytes:
        return self._opening() + _sse(self._writer.chunk(piece.chunk))

    def failed(self, exc: Exception) -> bytes:
        return self._opening() + _sse(self._writer.fail(_error_of(exc)))

    async def ending(self, tail: Tail | None) -> bytes:
        opening = self._opening()
        ending, response = self._writer.finish(tail.completion if tail is not None else None)
        if self._keep is not None:
            await self._keep(response)
        return opening + _sse(ending)


def _sse(events: list[dict[str, Any]]) -> bytes:
    return b"".join(
        b"event: " + event["type"].encode() + b"\ndata: " + _encoder.encode(event) + b"\n\n"
        for event in events
    )


def _error_of(exc: BaseException) -> dict[str, Any]:
    _, body, _ = openai_error(exc)
    detail = msgspec.json.decode(body)["error"]
    return {"code": detail.get("code") or detail.get("type"), "message": detail.get("message")}
