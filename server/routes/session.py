"""``/auth/session``: the browser pages' sign-in (an ``EventSource`` cannot send headers).

- ``POST`` ``{"key": "..."}`` (JSON only, so no other site's plain form can post it): checks
  the key (an API key, the admin key or a tenant read key; wrong keys count towards the
  failed-auth limit) and sets the signed session cookie (`server.session_cookie`);
  answers ``{"role", "tenant", "expires_at"}``.
- ``GET``: ``{"auth": bool, "signed_in": bool, "role", "tenant", "expires_at"}`` for the pages.
- ``DELETE``: signs out (the cookie is cleared).

With auth off there is nothing to sign in to: ``POST`` is a 404 ``not_found``.
"""

from __future__ import annotations

from typing import Annotated

import msgspec
from starlette.requests import Request
from starlette.responses import Response

from server.errors import APIError
from server.routes.body import decode_body, read_limited_body
from server.session_cookie import COOKIE_NAME, Role, cookie_header
from server.state import app_state


class SignInBody(msgspec.Struct, forbid_unknown_fields=True):
    key: Annotated[str, msgspec.Meta(min_length=1, max_length=512)]


class SessionInfo(msgspec.Struct):
    auth: bool
    signed_in: bool
    role: Role | None = None
    tenant: str | None = None
    expires_at: int | None = None


_decoder = msgspec.json.Decoder(SignInBody)
_encoder = msgspec.json.Encoder()
_NO_STORE = {"Cache-Control": "no-store"}


async def sign_in(request: Request) -> Response:
    auth = app_state(request).components.cost.auth
    if not auth.enabled:
        raise APIError("not_found", "auth is off ([auth].api_keys is empty): no sign-in needed")
    content_type = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if content_type != "application/json":
        raise APIError("invalid_request", 'send {"key": "..."} as application/json')
    body = decode_body(await read_limited_body(request, 4096), _decoder)
    token, role, tenant, expires_at = auth.sign_in(request, body.key)
    info = SessionInfo(True, True, role, tenant, expires_at)
    cookie = cookie_header(token, max_age=auth.sessions.ttl_s, secure=_is_https(request))
    return Response(
        _encoder.encode(info),
        media_type="application/json",
        headers={**_NO_STORE, "Set-Cookie": cookie},
    )


async def current(request: Request) -> Response:
    auth = app_state(request).components.cost.auth
    info = SessionInfo(auth=auth.enabled, signed_in=False)
    claims = auth.sessions.verify(request.cookies.get(COOKIE_NAME)) if auth.enabled else None
    if claims is not None:
        tenant = auth.session_tenant(claims.role, claims.digest)
        if tenant is not False:
            info = SessionInfo(
                True,
                True,
                claims.role,
                tenant if isinstance(tenant, str) else None,
                claims.expires_at,
            )
    return Response(_encoder.encode(info), media_type="application/json", headers=_NO_STORE)


async def sign_out(request: Request) -> Response:
    cookie = f"{COOKIE_NAME}=; Path=/; Max-Age=0; HttpOnly; SameSite=Strict"
    return Response(status_code=204, headers={**_NO_STORE, "Set-Cookie": cookie})


def _is_https(request: Request) -> bool:
    # Behind a TLS-terminating proxy the app sees http; trust its header only when the
    # operator said so ([limits].trust_forwarded_for).
    if request.url.scheme == "https":
        return True
    trusted = app_state(request).settings.limits.trust_forwarded_for
    return trusted and request.headers.get("x-forwarded-proto", "").lower() == "https"
