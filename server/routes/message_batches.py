"""``/v1/messages/batches`` in Anthropic's shape, over the same batch lane as ``/v1/batches``:
each request's ``params`` is a ``/v1/messages`` line as sent (tools, images, documents, system
blocks: anything ``/v1/messages`` takes), checked like an interactive Messages request, and the
results come back as Anthropic's JSONL, so the ``anthropic`` SDK's ``messages.batches`` helpers
work unchanged."""

from __future__ import annotations

from typing import Any, Final

import msgspec
from starlette.requests import Request
from starlette.responses import Response

from agent import untrusted_json
from agent.batch.anthropic_shape import message_batch, result
from agent.core import InvalidParam, decode_messages_request
from server.auth import Caller
from server.errors import APIError
from server.routes.admission import accounted
from server.routes.body import read_limited_body
from server.routes.files import lane_of
from server.state import AppState

_encoder: Final = msgspec.json.Encoder()
_decoder: Final = msgspec.json.Decoder()
ENDPOINT: Final = "/v1/messages"


def _json(payload: object) -> Response:
    return Response(_encoder.encode(payload), media_type="application/json")


def _results_base(request: Request) -> str:
    return str(request.base_url).rstrip("/") + "/v1/messages/batches"


@accounted("message_batches")
async def create(state: AppState, request: Request, caller: Caller, started: float) -> Response:
    """POST /v1/messages/batches: ``{"requests": [{"custom_id", "params"}, ...]}``."""
    lane = lane_of(state)
    raw = await read_limited_body(
        request,
        state.settings.batch.max_file_bytes,
        timeout_s=state.settings.server.body_read_timeout_s,
    )
    try:
        body = untrusted_json.decode(raw, _decoder)
    except msgspec.DecodeError as exc:
        raise APIError("invalid_json", f"malformed JSON: {exc}") from exc
    requests = body.get("requests") if isinstance(body, dict) else None
    if not isinstance(requests, list) or not requests:
        raise APIError("invalid_batch", "requests must be a non-empty list")
    lines: list[bytes] = []
    for index, item in enumerate(requests):
        if not isinstance(item, dict) or not isinstance(item.get("params"), dict):
            raise APIError("invalid_batch", f"requests[{index}] needs custom_id and params")
        try:  # refused at once, as Anthropic does, and as /v1/messages would
            decode_messages_request(_encoder.encode(item["params"]), tenant=caller.tenant)
        except InvalidParam as exc:
            raise APIError("invalid_batch", f"requests[{index}].params: {exc}") from exc
        line: dict[str, Any] = {
            "custom_id": item.get("custom_id"),
            "method": "POST",
            "url": ENDPOINT,
            "body": item["params"],
        }
        lines.append(_encoder.encode(line))
    upload = await lane.upload(
        caller.tenant, b"\n".join(lines), filename="message-batch.jsonl", purpose="batch"
    )
    batch = await lane.create(
        caller.tenant,
        input_file_id=upload.id,
        endpoint=ENDPOINT,
        completion_window="24h",
        metadata={"protocol": "anthropic"},
    )
    if batch.status == "failed":  # Anthropic refuses a bad batch outright
        errors = (batch.errors or {}).get("data") or [{"message": "invalid requests"}]
        raise APIError("invalid_batch", str(errors[0]["message"]))
    return _json(message_batch(batch, _results_base(request)))


@accounted("message_batches")
async def retrieve(state: AppState, request: Request, caller: Caller, started: float) -> Response:
    """GET /v1/messages/batches/{batch_id}."""
    batch = await lane_of(state).get(caller.tenant, request.path_params["batch_id"])
    return _json(message_batch(batch, _results_base(request)))


@accounted("message_batches")
async def cancel(state: AppState, request: Request, caller: Caller, started: float) -> Response:
    """POST /v1/messages/batches/{batch_id}/cancel."""
    batch = await lane_of(state).cancel(caller.tenant, request.path_params["batch_id"])
    return _json(message_batch(batch, _results_base(request)))


@accounted("message_batches")
async def list_batches(
    state: AppState, request: Request, caller: Caller, started: float
) -> Response:
    """GET /v1/messages/batches?limit=&after_id=: newest first."""
    try:
        limit = int(request.query_params.get("limit", "20"))
    except ValueError:
        raise APIError("invalid_batch", "limit must be an integer") from None
    if not 1 <= limit <= 1000:
        raise APIError("invalid_batch", "limit must be between 1 and 1000")
    page, more = await lane_of(state).list(
        caller.tenant, after=request.query_params.get("after_id"), limit=limit
    )
    data = [message_batch(batch, _results_base(request)) for batch in page]
    return _json(
        {
            "data": data,
            "has_more": more,
            "first_id": data[0]["id"] if data else None,
            "last_id": data[-1]["id"] if data else None,
        }
    )


@accounted("message_batches")
async def results(state: AppState, request: Request, caller: Caller, started: float) -> Response:
    """GET /v1/messages/batches/{batch_id}/results: JSONL once the batch has ended."""
    lane = lane_of(state)
    batch = await lane.get(caller.tenant, request.path_params["batch_id"])
    if batch.output_file_id is None and batch.error_file_id is None:
        raise APIError("batch_conflict", "the batch has no results yet")
    out: list[bytes] = []
    for file_id in (batch.output_file_id, batch.error_file_id):
        if file_id is not None:
            for line in (await lane.file_content(caller.tenant, file_id)).splitlines():
                if line.strip():
                    out.append(_encoder.encode(result(_decoder.decode(line))))
    return Response(b"\n".join(out) + b"\n", media_type="application/binary")
