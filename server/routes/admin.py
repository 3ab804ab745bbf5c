"""``POST /admin/cache/invalidate``: drop cached answers when what they were built on changed.

Protected by ``FRUGAL_SERVER_ADMIN_KEY`` (``Authorization: Bearer <key>`` or ``x-api-key``);
with no key configured the endpoint does not exist (404). One of:

- ``{"tag": "<doc id>"}`` (or ``"doc_id"``): every answer built on that knowledge-base
  document, in the exact and the semantic cache, on every replica;
- ``{"message": "...", "model": "auto", "user_id": ..., "tenant": "acme"}``: the answer cached
  for exactly that single-turn question, in that tenant's cache (default: tenant
  ``default``, which is every caller's while auth is off). Tenants' caches are apart, so
  one tenant's answer is dropped without touching another's;
- ``{"semantic_ids": ["…", …]}`` (at most 1,000): those semantic entries, as
  ``GET /admin/cache/semantic`` lists them, on every replica.
"""

from __future__ import annotations

from typing import Annotated

import msgspec
from starlette.requests import Request
from starlette.responses import Response

from agent.pipeline import AUTO_MODEL, ChatRequest
from agent.pipeline.answer_cache import Invalidation
from agent.types import Message
from cache.semantic_backend import MAX_LISTED
from server.auth import DEFAULT_TENANT, admin_key_matches
from server.errors import APIError, response_for_exception
from server.routes.body import decode_body, read_limited_body
from server.state import AppState, app_state

_MAX_ADMIN_BODY = 64 * 1024
_Text = Annotated[str, msgspec.Meta(min_length=1, max_length=32_000)]
Id = Annotated[str, msgspec.Meta(min_length=1, max_length=200)]
Tenant = Annotated[str, msgspec.Meta(pattern=r"^[A-Za-z0-9._-]{1,64}$")]
_EntryId = Annotated[str, msgspec.Meta(pattern=r"^[0-9a-f]{32}$")]  # `entry_id`'s digests


class InvalidateBody(msgspec.Struct, forbid_unknown_fields=True):
    tag: Id | None = None
    doc_id: Id | None = None
    message: _Text | None = None
    model: Id = AUTO_MODEL
    user_id: Id | None = None
    tenant: Tenant = DEFAULT_TENANT
    semantic_ids: (
        Annotated[list[_EntryId], msgspec.Meta(min_length=1, max_length=MAX_LISTED)] | None
    ) = None


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
        removed = await _remove(state, body)
        if state.components.replicator is not None:
            state.components.replicator.announce_removed(removed.semantic)
    except Exception as exc:  # every failure becomes the JSON error the table maps it to
        return response_for_exception(exc)
    result = InvalidateResult(removed.exact, len(removed.semantic))
    return Response(_encoder.encode(result), media_type="application/json")


async def _remove(state: AppState, body: InvalidateBody) -> Invalidation:
    chosen = [v for v in (body.tag, body.doc_id, body.message, body.semantic_ids) if v is not None]
    if len(chosen) != 1:
        raise APIError(
            "invalid_request", "give exactly one of tag, doc_id, message or semantic_ids"
        )
    if body.semantic_ids is not None:
        semantic = state.components.semantic_cache
        gone = await semantic.remove_ids(body.semantic_ids) if semantic is not None else []
        return Invalidation(0, gone)
    if body.message is not None:
        question = ChatRequest(
            messages=(Message("user", body.message),),
            model=body.model,
            user_id=body.user_id,
            tenant=body.tenant,
        )
        # The tenant's own default agent keys its answers under its own cache partition.
        agent = state.components.agents.select(None, body.tenant)
        return await agent.forget(question)
    tag = body.tag if body.tag is not None else body.doc_id
    assert tag is not None  # exactly one was given, and it is neither of the others
    return await state.components.agent.invalidate_tag(tag)


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
