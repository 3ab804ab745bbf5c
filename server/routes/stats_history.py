"""``GET /stats/history``: the dashboard's charts, from the server-side per-minute history.

``?window=`` is ``15m``, ``1h``, ``6h``, ``24h`` (or a number of seconds; capped at the
retention), ``?tenant=`` one tenant's points (a tenant read key always gets its own). With
Redis configured every replica answers with the same points; when the store cannot answer the
reply is ``partial`` with no points (200, so the page keeps what it drew).
"""

from __future__ import annotations

import time
from typing import Final

import msgspec
from starlette.requests import Request
from starlette.responses import Response

from cache.errors import StoreUnavailable
from metrics.history import HistoryView
from server.errors import APIError
from server.routes.stats import requested_tenant
from server.state import AppState, app_state

WINDOWS: Final = {"15m": 900, "1h": 3_600, "6h": 21_600, "24h": 86_400}
DEFAULT_WINDOW: Final = "1h"
_encoder = msgspec.json.Encoder()


async def get_history(request: Request) -> Response:
    """The points of the asked window, for one tenant or all."""
    state: AppState = app_state(request)
    tenant = requested_tenant(request, state)
    window_s = parse_window(request.query_params.get("window") or DEFAULT_WINDOW)
    history = state.components.cost.history
    try:
        view = await history.read(tenant=tenant, window_s=window_s)
    except StoreUnavailable:
        view = HistoryView(
            tenant=tenant,
            window_s=window_s,
            step_s=history.bucket_s,
            bucket_s=history.bucket_s,
            retention_s=history.retention_s,
            generated_at=round(time.time(), 3),
            tenants=[],
            points=[],
            partial=True,
        )
    return Response(
        _encoder.encode(view),
        media_type="application/json",
        headers={"Cache-Control": "no-store"},
    )


def parse_window(raw: str) -> int:
    """Seconds of a ``window`` value; raises `APIError` ``invalid_request`` naming the
    accepted values."""
    if raw in WINDOWS:
        return WINDOWS[raw]
    if raw.isdigit() and int(raw) > 0:
        return int(raw)
    accepted = ", ".join(WINDOWS)
    raise APIError("invalid_request", f"window must be one of {accepted} or seconds, got {raw!r}")
