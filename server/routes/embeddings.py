"""``POST /v1/embeddings``: the OpenAI embeddings wire through the exact cache, with cost."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from starlette.requests import Request
from starlette.responses import Response

from metrics.request_record import RequestRecord
from server.routes.admission import account_failure, elapsed_ms, identify
from server.routes.body import read_limited_body

if TYPE_CHECKING:
    from server.state import AppState

ENDPOINT = "embeddings"


async def create_embeddings(request: Request) -> Response:
    """Embed the input; the provider's response comes back as it was sent."""
    state: AppState = request.app.state.frugal
    started = time.perf_counter()
    caller = None
    try:
        caller = identify(state, request)
        raw = await read_limited_body(request, state.settings.server.max_body_bytes)
        result = await state.components.embeddings.create(raw, tenant=caller.tenant)
    except Exception as exc:
        await account_failure(state, ENDPOINT, caller, exc, started)
        raise
    record = RequestRecord(
        request_id="",
        endpoint=ENDPOINT,
        tenant=caller.tenant,
        tier="cache" if result.cache else "explicit",
        cache_layer="exact" if result.cache else None,
        exact_lookup="hit" if result.cache else "miss",
        model=result.model,
        usage=result.usage,
        cost_usd_micros=result.cost_usd_micros,
        cost_known=result.cost_known,
        saved_usd_micros=result.saved_usd_micros,
        latency_ms=elapsed_ms(started),
    )
    await state.components.cost.accounting.finish(record, caller)
    return Response(
        result.body,
        media_type="application/json",
        headers={
            "x-frugal-cache": result.cache or "miss",
            "x-frugal-model": result.model,
            "x-frugal-cost-usd-micros": str(result.cost_usd_micros),
        },
    )
