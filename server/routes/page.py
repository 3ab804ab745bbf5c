"""``GET /`` (the chat page), ``GET /dashboard`` (the cost dashboard, polling ``/stats``), and
the static files they load from ``/static`` (uPlot is vendored under ``static/vendor``).

The page is plain HTML plus one script and one stylesheet from ``server/static``, so the
Content-Security-Policy can forbid every inline script and style and every other origin.
The script talks to ``GET /chat/stream`` with an ``EventSource``. With auth on, both pages
are the sign-in form (``signin.html``) until the browser holds a session cookie.
"""

from __future__ import annotations

import os
from importlib.resources import files

from starlette.requests import Request
from starlette.responses import FileResponse, Response
from starlette.staticfiles import PathLike, StaticFiles
from starlette.types import Scope

from server.state import app_state

STATIC_PACKAGE = ("server", "static")

# 'self' only: the script, the stylesheet and the EventSource all come from this origin.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; connect-src 'self'; "
    "img-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; "
    "frame-ancestors 'none'"
)

PAGE_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    # Revalidate on every load (the ETag makes that cheap) so an upgrade is seen at once.
    "Cache-Control": "no-cache",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}


async def index(request: Request) -> Response:
    """The chat page, with a strict CSP and ``Cache-Control: no-cache``; with auth on and no
    API key (header or sign-in cookie), the sign-in form instead (401)."""
    if not app_state(request).components.cost.auth.page_allowed(request, operator=False):
        return _sign_in_page()
    return _static_page("index.html")


def _static_page(name: str, status_code: int = 200) -> Response:
    page = files(STATIC_PACKAGE[0]).joinpath(STATIC_PACKAGE[1], name)
    return FileResponse(
        str(page), status_code=status_code, media_type="text/html", headers=PAGE_HEADERS
    )


def _sign_in_page() -> Response:
    # 401 with a form: the page posts the key to /auth/session, which sets the session
    # cookie, then loads the page again (see server.session_cookie).
    return _static_page("signin.html", status_code=401)


async def dashboard(request: Request) -> Response:
    """``GET /dashboard``: the cost dashboard, under the same strict CSP as the chat page.

    It polls ``GET /stats`` from this origin and draws with the uPlot copy vendored in
    ``server/static/vendor`` (uPlot styles its elements through the CSSOM, which the policy
    allows; it injects no ``<style>`` or inline script). With auth on it needs the admin key
    or a tenant read key (then ``/stats`` shows that tenant only), from the headers or the
    sign-in cookie; without one it is the sign-in form (401).
    """
    if not app_state(request).components.cost.auth.page_allowed(request, operator=True):
        return _sign_in_page()
    return _static_page("dashboard.html")


class PageAssets(StaticFiles):
    """`StaticFiles` over ``server/static`` whose answers revalidate and are never sniffed."""

    def __init__(self) -> None:
        super().__init__(packages=[STATIC_PACKAGE])

    def file_response(
        self,
        full_path: PathLike,
        stat_result: os.stat_result,
        scope: Scope,
        status_code: int = 200,
    ) -> Response:
        response = super().file_response(full_path, stat_result, scope, status_code)
        response.headers["Cache-Control"] = "no-cache"
        response.headers["X-Content-Type-Options"] = "nosniff"
        return response
