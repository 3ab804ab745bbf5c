"""``/v1/batches`` in OpenAI's shape: create a batch over an uploaded file, retrieve, list and
cancel. Batches belong to the caller's tenant; the lane's runner does the work."""

from __future__ import annotations

from typing import Final

import msgspec
from starlette.requests import Request
from starlette.responses import Response

from agent.batch.wire import OPENAI_ENDPOINTS
from server.auth import Caller
from server.errors import APIError
from server.routes.admission import accounted
from server.routes.body import decode_body, read_limited_body
from server.routes.files import lane_of
from server.state import AppState

_encoder: Final = msgspec.json.Encoder()


class BatchCreate(msgspec.Struct, frozen=True):
    """The body of ``POST /v1/batches`` (unknown fields are ignored, as OpenAI adds some)."""

    input_file_id: str
    endpoint: str
    completion_window: str = "24h"
    metadata: dict[str, str] | None = None


_create_decoder: Final = msgspec.json.Decoder(BatchCreate)


def _json(payload: object) -> Response:
    return Response(_encoder.encode(payload), media_type="application/json")


@accounted("batches")
async def create_batch(
    state: AppState, request: Request, caller: Caller, started: float
) -> Response:
    """POST /v1/batches."""
    lane = lane_of(state)
    raw = await read_limited_body(
        request,
        state.settings.server.max_body_bytes,
        timeout_s=state.settings.server.body_read_timeout_s,
    )
    body = decode_body(raw, _create_decoder)
    if body.endpoint not in OPENAI_ENDPOINTS:  # /v1/messages lines come through message batches
        raise APIError("invalid_batch", f"endpoint must be one of {', '.join(OPENAI_ENDPOINTS)}")
    batch = await lane.create(
        caller.tenant,
        input_file_id=body.input_file_id,
        endpoint=body.endpoint,
        completion_window=body.completion_window,
        metadata=body.metadata,
    )
    return _json(batch)


@accounted("batches")
async def retrieve_batch(
    state: AppState, request: Request, caller: Caller, started: float
) -> Response:
    """GET /v1/batches/{batch_id}."""
    return _json(await lane_of(state).get(caller.tenant, request.path_params["batch_id"]))


@accounted("batches")
async def cancel_batch(
    state: AppState, request: Request, caller: Caller, started: float
) -> Response:
    """POST /v1/batches/{batch_id}/cancel."""
    return _json(await lane_of(state).cancel(caller.tenant, request.path_params["batch_id"]))


@accounted("batches")
async def list_batches(
    state: AppState, request: Request, caller: Caller, started: float
) -> Response:
    """GET /v1/batches?limit=&after=: the caller's batches, newest first."""
    try:
        limit = int(request.query_params.get("limit", "20"))
    except ValueError:
        raise APIError("invalid_batch", "limit must be an integer") from None
    if not 1 <= limit <= 100:
        raise APIError("invalid_batch", "limit must be between 1 and 100")
    page, more = await lane_of(state).list(
        caller.tenant, after=request.query_params.get("after"), limit=limit
    )
    return _json(
        {
            "object": "list",
            "data": page,
            "first_id": page[0].id if page else None,
            "last_id": page[-1].id if page else None,
            "has_more": more,
        }
    )
