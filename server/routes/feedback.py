"""``POST /chat/feedback``: a user's score for one answer, counted for the A/B variant that
gave it (``{"request_id": "...", "score": 1..5}``). Unknown, expired or already scored
requests are a 404; requests of agents without variants are not kept, so they are too."""

from __future__ import annotations

from typing import Annotated

import msgspec
from starlette.requests import Request
from starlette.responses import Response

from server.errors import APIError
from server.routes.admission import identify
from server.routes.body import decode_body, read_limited_body
from server.state import app_state


class FeedbackBody(msgspec.Struct, forbid_unknown_fields=True):
    request_id: Annotated[str, msgspec.Meta(min_length=1, max_length=200)]
    score: Annotated[int, msgspec.Meta(ge=1, le=5)]


class FeedbackResult(msgspec.Struct):
    agent: str
    variant: str


_decoder = msgspec.json.Decoder(FeedbackBody)
_encoder = msgspec.json.Encoder()


async def post_feedback(request: Request) -> Response:
    """Count the score for the variant that answered ``request_id`` (the caller must pass
    the same authentication as ``/chat``; feedback is not a billed request)."""
    state = app_state(request)
    identify(state, request)
    body = decode_body(await read_limited_body(request, 4096), _decoder)
    found = await state.components.experiments.feedback(body.request_id, body.score)
    if found is None:
        raise APIError(
            "not_found",
            f"no A/B answer {body.request_id!r} awaiting feedback (unknown, expired or scored)",
        )
    return Response(_encoder.encode(FeedbackResult(*found)), media_type="application/json")
