"""``GET`` / ``DELETE /v1/responses/{id}`` and ``GET /v1/responses/{id}/input_items``: the
stored responses of the caller's tenant (another tenant's id is a 404, as an unknown one)."""

from __future__ import annotations

from typing import Any, Final

import msgspec
from starlette.requests import Request
from starlette.responses import Response

from agent.core import InvalidParam
from cache.response_store import StoredResponse
from server.routes.admission import identify
from server.routes.responses import NotFound
from server.state import app_state

MAX_LIMIT: Final = 100
DEFAULT_LIMIT: Final = 20
_encoder: Final = msgspec.json.Encoder()


async def retrieve_response(request: Request) -> Response:
    """The stored Response object."""
    stored = await _stored(request)
    return _json(stored.response)


async def delete_response(request: Request) -> Response:
    """Delete a stored response: ``{"id", "object": "response", "deleted": true}``."""
    state = app_state(request)
    caller = identify(state, request)
    response_id = request.path_params["response_id"]
    if not await state.components.responses.delete(caller.tenant, response_id):
        raise _not_found(response_id)
    return _json({"id": response_id, "object": "response", "deleted": True})


async def list_input_items(request: Request) -> Response:
    """The input items of a stored response, in OpenAI's list shape; ``order`` (``desc``
    by default), ``limit`` (1-100, default 20) and ``after`` (an item id) page through them."""
    stored = await _stored(request)
    query = request.query_params
    order = query.get("order", "desc")
    if order not in ("asc", "desc"):
        raise InvalidParam("order must be 'asc' or 'desc'", param="order")
    try:
        limit = int(query.get("limit", DEFAULT_LIMIT))
    except ValueError:
        raise InvalidParam("limit must be an integer", param="limit") from None
    if not 1 <= limit <= MAX_LIMIT:
        raise InvalidParam(f"limit must be between 1 and {MAX_LIMIT}", param="limit")
    items = list(stored.input_items)
    if order == "desc":
        items.reverse()
    after = query.get("after")
    if after is not None:
        ids = [item.get("id") for item in items]
        if after not in ids:
            raise InvalidParam(f"no input item with id '{after[:200]}'", param="after")
        items = items[ids.index(after) + 1 :]
    page = items[:limit]
    return _json(
        {
            "object": "list",
            "data": page,
            "first_id": page[0].get("id") if page else None,
            "last_id": page[-1].get("id") if page else None,
            "has_more": len(items) > limit,
        }
    )


async def _stored(request: Request) -> StoredResponse:
    state = app_state(request)
    caller = identify(state, request)
    response_id = request.path_params["response_id"]
    stored = await state.components.responses.get(caller.tenant, response_id)
    if stored is None:
        raise _not_found(response_id)
    return stored


def _not_found(response_id: str) -> NotFound:
    return NotFound(f"Response with id '{response_id[:200]}' not found.")


def _json(body: dict[str, Any]) -> Response:
    return Response(_encoder.encode(body), media_type="application/json")
