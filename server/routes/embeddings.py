"""``POST /v1/embeddings``: the OpenAI embeddings wire through the exact cache, with cost."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from metrics.request_record import RequestRecord
from server.auth import Caller
from server.routes.admission import accounted, elapsed_ms
from server.routes.body import read_limited_body
from server.state import AppState

ENDPOINT = "embeddings"


@accounted(ENDPOINT)
async def create_embeddings(
    state: AppState, request: Request, caller: Caller, started: float
) -> Response:
    """Embed the input; the provider's response comes back as it was sent."""
    raw = await read_limited_body(
        request,
        state.settings.server.max_body_bytes,
        timeout_s=state.settings.server.body_read_timeout_s,
    )
    result = await state.components.embeddings.create(raw, tenant=caller.tenant)
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
