"""``POST /admin/cache/invalidate``: drop cached answers when what they were built on changed.

Protected by ``FRUGAL_SERVER_ADMIN_KEY`` (``Authorization: Bearer <key>`` or ``x-api-key``);
with no key configured the endpoint does not exist (404). One of:

- ``{"tag": "<doc id>"}`` (or ``"doc_id"``): every answer built on that knowledge-base
  document, in the exact and the semantic cache, on every replica;
- ``{"message": "...", "model": "auto", "user_id": ..., "tenant": "acme"}``: the answer cached
  for exactly that single-turn question, in that tenant's cache (default: tenant
  ``default``, which is every caller's while auth is off). Tenants' caches are apart, so
  one tenant's answer is dropped without touching another's.
"""

from __future__ import annotations

from typing import Annotated

import msgspec
from starlette.requests import Request
from starlette.responses import Response

from agent.pipeline import AUTO_MODEL, ChatRequest
from agent.pipeline.answer_cache import Invalidation
from agent.types import Message
from server.auth import DEFAULT_TENANT, admin_key_matches
from server.errors import APIError, response_for_exception
from server.routes.body import decode_body, read_limited_body
from server.state import app_state

_MAX_ADMIN_BODY = 64 * 1024
_Text = Annotated[str, msgspec.Meta(min_length=1, max_length=32_000)]
_Id = Annotated[str, msgspec.Meta(min_length=1, max_length=200)]
_Tenant = Annotated[str, msgspec.Meta(pattern=r"^[A-Za-z0-9._-]{1,64}$")]


class InvalidateBody(msgspec.Struct, forbid_unknown_fields=True):
    tag: _Id | None = None
    doc_id: _Id | None = None
    message: _Text | None = None
    model: _Id = AUTO_MODEL
    user_id: _Id | None = None
    tenant: _Tenant = DEFAULT_TENANT


class InvalidateResult(msgspec.Struct):
    exact_removed: int
    semantic_removed: int


_decoder = msgspec.json.Decoder(InvalidateBody)
_encoder = msgspec.json.Encoder()


async def invalidate(request: Request) -> Response:
    state = app_state(request)
    try:
        _authorize(request, state.settings.server.admin_key)
        body = decode_body(await read_limited_body(request, _MAX_ADMIN_BODY), _decoder)
        chosen = [v for v in (body.tag, body.doc_id, body.message) if v is not None]
        if len(chosen) != 1:
            raise APIError("invalid_request", "give exactly one of tag, doc_id or message")
        agent = state.components.agent
        removed: Invalidation
        if body.message is not None:
            question = ChatRequest(
                messages=(Message("user", body.message),),
                model=body.model,
                user_id=body.user_id,
                tenant=body.tenant,
            )
            # The tenant's own default agent keys its answers under its own cache partition.
            agent = state.components.agents.select(None, body.tenant)
            removed = await agent.forget(question)
        else:
            removed = await agent.invalidate_tag(chosen[0])
        if state.components.replicator is not None:
            state.components.replicator.announce_removed(removed.semantic)
    except Exception as exc:  # every failure becomes the JSON error the table maps it to
        return response_for_exception(exc)
    result = InvalidateResult(removed.exact, len(removed.semantic))
    return Response(_encoder.encode(result), media_type="application/json")


def _authorize(request: Request, admin_key: str | None) -> None:
    if admin_key is None:
        raise APIError("not_found", "admin endpoints are disabled; set FRUGAL_SERVER_ADMIN_KEY")
    auth = app_state(request).components.cost.auth
    address = auth.client_address(request)
    auth.failures.check(address)
    if not admin_key_matches(request, admin_key):
        auth.failures.record(address)
        raise APIError(
            "unauthorized",
            "admin key missing or wrong (Authorization: Bearer <key> or x-api-key)",
            headers={"WWW-Authenticate": "Bearer"},
        )
