"""``/admin/kb/{name}/…``: change an ingested knowledge base and invalidate what was cached
on the documents that changed (the same tags as ``/admin/cache/invalidate``).

- ``POST /admin/kb/{name}/ingest``: re-ingest the configured paths (incremental);
- ``POST /admin/kb/{name}/reload``: pick up what ``frugal kb ingest|delete`` stored;
- ``POST /admin/kb/{name}/delete`` with ``{"doc_ids": [...]}``: remove documents.

Admin key as for the other admin endpoints. Each answers with the documents added, changed
and removed, and how many cached answers were dropped.
"""

from __future__ import annotations

from typing import Annotated

import msgspec
from starlette.requests import Request
from starlette.responses import Response

from agent.kb import IngestReport, KnowledgeBaseService
from server.errors import APIError, response_for_exception
from server.routes.admin import _authorize
from server.routes.body import decode_body, read_limited_body
from server.state import AppState, app_state

_Id = Annotated[str, msgspec.Meta(min_length=1, max_length=500)]


class DeleteBody(msgspec.Struct, forbid_unknown_fields=True):
    doc_ids: Annotated[list[_Id], msgspec.Meta(min_length=1, max_length=1000)]


class KbChange(msgspec.Struct):
    added: list[str]
    changed: list[str]
    removed: list[str]
    chunks: int
    embedded: int
    exact_removed: int
    semantic_removed: int


_decoder = msgspec.json.Decoder(DeleteBody)
_encoder = msgspec.json.Encoder()


async def ingest(request: Request) -> Response:
    return await _change(request, "ingest")


async def reload(request: Request) -> Response:
    return await _change(request, "reload")


async def delete(request: Request) -> Response:
    return await _change(request, "delete")


async def _change(request: Request, action: str) -> Response:
    state = app_state(request)
    try:
        _authorize(request, state.settings.server.admin_key)
        kb = _knowledge_base(state, request.path_params["name"])
        if action == "delete":
            body = decode_body(await read_limited_body(request, 256 * 1024), _decoder)
            report = await kb.delete(body.doc_ids)
        elif action == "ingest":
            report = await kb.ingest()
        else:
            report = await kb.reload()
        exact, semantic = await invalidate_documents(state, kb, report)
    except Exception as exc:  # every failure becomes the JSON error the table maps it to
        return response_for_exception(exc)
    result = KbChange(
        report.added,
        report.changed,
        report.removed,
        report.chunks,
        report.embedded,
        exact,
        semantic,
    )
    return Response(_encoder.encode(result), media_type="application/json")


async def invalidate_documents(
    state: AppState, kb: KnowledgeBaseService, report: IngestReport
) -> tuple[int, int]:
    """Drop every cached answer (any agent) built on a changed or removed document."""
    exact = semantic = 0
    for tag in kb.tags(report):
        for agent in state.components.agents:
            removed = await agent.invalidate_tag(tag)
            exact += removed.exact
            semantic += len(removed.semantic)
            if state.components.replicator is not None:
                state.components.replicator.announce_removed(removed.semantic)
    return exact, semantic


def _knowledge_base(state: AppState, name: str) -> KnowledgeBaseService:
    kb = state.components.knowledge.get(name)
    if kb is None:
        known = ", ".join(state.components.knowledge) or "none"
        raise APIError("not_found", f"no ingested knowledge base {name!r} (configured: {known})")
    return kb
