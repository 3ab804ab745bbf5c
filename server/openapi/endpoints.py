"""``GET /openapi.json`` (the generated OpenAPI description) and ``GET /docs`` (a reference
page that renders it, served from ``server/static`` under the pages' strict CSP: no CDN)."""

from __future__ import annotations

import functools
from importlib.resources import files

from starlette.requests import Request
from starlette.responses import FileResponse, Response

from server.openapi import document_json
from server.routes.page import PAGE_HEADERS, STATIC_PACKAGE


@functools.cache
def _document() -> bytes:
    # The description depends only on the code, so it is built once per process.
    return document_json()


async def openapi_json(request: Request) -> Response:
    """The OpenAPI 3.1 description of every route."""
    return Response(_document(), media_type="application/json")


async def docs(request: Request) -> Response:
    """The API reference page; it fetches ``/openapi.json`` from this origin."""
    page = files(STATIC_PACKAGE[0]).joinpath(STATIC_PACKAGE[1], "docs.html")
    return FileResponse(str(page), media_type="text/html", headers=PAGE_HEADERS)
