"""``GET /admin/cache/semantic``: what the semantic cache holds, for an operator deciding what
to drop (then ``POST /admin/cache/invalidate`` with ``{"semantic_ids": [...]}``).

Query: ``tenant``, ``tag`` (a knowledge-base document id), ``q`` (a piece of the question, any
case), ``limit`` (1 to 1,000, default 100); each filter applies when given. The answer holds the
live entries, newest first, and which backend holds them: ``redis`` (the one index every
replica searches) or ``memory`` (this replica's own index; with Redis replication the others
hold the same entries within a second). Admin key as for the other admin endpoints (404 when
none is configured).
"""

from __future__ import annotations

from typing import Annotated

import msgspec
from starlette.requests import Request
from starlette.responses import Response

from agent.pipeline.answer_cache import payload_tags
from cache.semantic_backend import DEFAULT_LISTED, MAX_LISTED, ListedEntry
from server.errors import APIError, response_for_exception
from server.routes.admin import Id, Tenant, _authorize
from server.state import app_state


class SemanticQuery(msgspec.Struct, forbid_unknown_fields=True):
    """The query of ``GET /admin/cache/semantic``."""

    tenant: Tenant | None = None
    tag: Id | None = None
    q: Annotated[str, msgspec.Meta(min_length=1, max_length=1000)] | None = None
    limit: Annotated[int, msgspec.Meta(ge=1, le=MAX_LISTED)] = DEFAULT_LISTED


class SemanticItem(msgspec.Struct):
    """One live entry: its id (for ``semantic_ids``), the normalised question it answers,
    its tenant and partition (model, protocol and context digest), its invalidation tags, and
    the seconds it has left (null: no expiry)."""

    id: str
    question: str
    tenant: str
    partition: str
    tags: list[str]
    expires_in_s: float | None


class SemanticListing(msgspec.Struct):
    """The entries, newest first, and the backend they were read from (``memory`` or
    ``redis``)."""

    entries: list[SemanticItem]
    backend: str


_encoder = msgspec.json.Encoder()


async def list_semantic(request: Request) -> Response:
    state = app_state(request)
    try:
        _authorize(request, state.settings.server.admin_key)
        query = _query(request)
        cache = state.components.semantic_cache
        if cache is None:
            raise APIError("not_found", "the semantic cache is off (FRUGAL_CACHE_SEMANTIC_ENABLED)")
        listed = await cache.backend.list_entries(
            tenant=query.tenant,
            tag=query.tag,
            contains=query.q,
            limit=query.limit,
            tags_of=lambda entry: payload_tags(entry.payload),
        )
    except Exception as exc:  # every failure becomes the JSON error the table maps it to
        return response_for_exception(exc)
    listing = SemanticListing([_item(entry) for entry in listed], cache.backend.kind)
    return Response(_encoder.encode(listing), media_type="application/json")


def _query(request: Request) -> SemanticQuery:
    params = request.query_params
    repeated = sorted({name for name in params if len(params.getlist(name)) > 1})
    if repeated:
        raise APIError("invalid_request", f"give each parameter once: {', '.join(repeated)}")
    try:
        # strict=False: query values are strings, ``limit`` among them.
        return msgspec.convert(dict(params), SemanticQuery, strict=False)
    except msgspec.ValidationError as exc:
        raise APIError("invalid_request", f"query: {exc}") from exc


def _item(entry: ListedEntry) -> SemanticItem:
    expires_in_s = None if entry.expires_in_s is None else round(entry.expires_in_s, 3)
    return SemanticItem(
        entry.id, entry.query, entry.tenant, entry.tier, list(entry.tags), expires_in_s
    )
