"""Browser sign-in: a short-lived, HMAC-signed session cookie standing in for the API key.

An ``EventSource`` (the chat page's stream) cannot send an ``Authorization`` header, and a
key in the URL ends up in logs and history; so the browser pages sign in once through
``POST /auth/session`` and the server sets this cookie (HttpOnly, SameSite=Strict, expiring).

The token is ``<payload>.<mac>`` in base64url, the payload ``{"r": role, "d": key digest,
"e": expiry}``. It names the key by its SHA-256 digest, never the key itself, and is checked
against the configured keys on every use, so removing a key ends its sessions at the next
restart. The MAC key is ``[auth].session_secret`` (random per process when unset: sessions
then hold only on the replica that issued them).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
import time
from collections.abc import Callable
from typing import Final, Literal

import msgspec

COOKIE_NAME: Final = "frugal_session"
Role = Literal["caller", "admin", "reader"]
"""``caller``: an API key (the chat page); ``admin``: the admin key; ``reader``: a tenant read
key (``/stats`` and the dashboard of that tenant)."""


class SessionClaims(msgspec.Struct, frozen=True):
    r: Role
    d: str
    e: int

    @property
    def role(self) -> Role:
        return self.r

    @property
    def digest(self) -> bytes:
        return bytes.fromhex(self.d)

    @property
    def expires_at(self) -> int:
        return self.e


_encoder = msgspec.json.Encoder()
_decoder = msgspec.json.Decoder(SessionClaims)


class SessionSigner:
    """Issues and verifies session tokens; ``clock`` is epoch seconds (injectable in tests)."""

    def __init__(
        self,
        secret: str | None,
        *,
        ttl_s: int,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._key = secret.encode("utf-8") if secret else os.urandom(32)
        self.ttl_s = ttl_s
        self._clock = clock

    def issue(self, role: Role, digest: bytes) -> tuple[str, int]:
        """A token for ``role`` and the key of ``digest``, and its expiry (epoch seconds)."""
        expires_at = int(self._clock()) + self.ttl_s
        payload = _b64(_encoder.encode(SessionClaims(role, digest.hex(), expires_at)))
        return f"{payload}.{_b64(self._mac(payload))}", expires_at

    def verify(self, token: str | None) -> SessionClaims | None:
        """The claims of a genuine, unexpired ``token``; None otherwise."""
        if not token or token.count(".") != 1:
            return None
        payload, mac = token.split(".")
        try:
            given = _unb64(mac)
            claims = _decoder.decode(_unb64(payload))
            bytes.fromhex(claims.d)
        except (binascii.Error, ValueError, msgspec.DecodeError):
            return None
        if not hmac.compare_digest(given, self._mac(payload)):
            return None
        return claims if claims.e > self._clock() else None

    def _mac(self, payload: str) -> bytes:
        return hmac.new(self._key, payload.encode("ascii"), hashlib.sha256).digest()


def cookie_header(token: str, *, max_age: int, secure: bool) -> str:
    """The ``Set-Cookie`` value: HttpOnly (no script reads it), SameSite=Strict (no other site
    sends it), for the whole origin, expiring with the token."""
    attributes = [f"{COOKIE_NAME}={token}", "Path=/", f"Max-Age={max_age}", "HttpOnly"]
    attributes.append("SameSite=Strict")
    if secure:
        attributes.append("Secure")
    return "; ".join(attributes)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
