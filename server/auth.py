"""API keys: who is calling (the tenant) and whom the inbound rate limit counts against.

Keys come from ``[auth].api_keys`` as ``tenant:key``. They are held only as SHA-256 digests,
so the lookup compares digests (no key-dependent timing on the secret itself) and no key can
leak from memory dumps of the table or into logs. With no keys configured auth is off: every
caller is tenant ``default`` and rate limits apply per client address.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import Final

import msgspec
from starlette.requests import HTTPConnection

from server.errors import APIError

DEFAULT_TENANT: Final = "default"
STREAM_KEY_PARAM: Final = "api_key"
"""Query parameter carrying the key on ``GET /chat/stream`` (an EventSource sends no headers)."""


class Caller(msgspec.Struct, frozen=True):
    """The tenant a request bills to and the subject its rate limit counts against
    (``key:<digest prefix>`` or ``ip:<address>``; never the key itself)."""

    tenant: str
    subject: str


class ApiKeys:
    """The configured keys; `identify` turns a request into a `Caller` or raises 401."""

    def __init__(self, entries: Sequence[str], *, trust_forwarded_for: bool = False) -> None:
        self._tenant_by_digest: dict[bytes, str] = {}
        for entry in entries:
            tenant, _, key = entry.partition(":")
            self._tenant_by_digest[_digest(key)] = tenant
        self._trust_forwarded_for = trust_forwarded_for

    @property
    def enabled(self) -> bool:
        """True when at least one key is configured."""
        return bool(self._tenant_by_digest)

    def identify(self, request: HTTPConnection, *, query_key: str | None = None) -> Caller:
        """The caller of ``request``: by ``Authorization: Bearer``, ``x-api-key`` or
        ``query_key``; raises `APIError` ``unauthorized`` (401) when auth is on and the key
        is missing or unknown."""
        if not self.enabled:
            return Caller(DEFAULT_TENANT, f"ip:{self._client_address(request)}")
        key = _presented_key(request) or query_key
        if not key:
            raise _unauthorized("an API key is required (Authorization: Bearer <key>)")
        digest = _digest(key)
        tenant = self._tenant_by_digest.get(digest)
        if tenant is None:
            raise _unauthorized("the API key is not valid")
        return Caller(tenant, f"key:{digest.hex()[:16]}")

    def _client_address(self, request: HTTPConnection) -> str:
        if self._trust_forwarded_for:
            forwarded = request.headers.get("x-forwarded-for", "")
            first = forwarded.split(",", 1)[0].strip()
            if first:
                return first
        return request.client.host if request.client else "unknown"


def _presented_key(request: HTTPConnection) -> str | None:
    authorization = request.headers.get("authorization", "")
    scheme, _, credentials = authorization.partition(" ")
    if scheme.lower() == "bearer" and credentials.strip():
        return credentials.strip()
    return request.headers.get("x-api-key") or None


def _digest(key: str) -> bytes:
    return hashlib.sha256(key.encode("utf-8")).digest()


def _unauthorized(message: str) -> APIError:
    return APIError("unauthorized", message, headers={"WWW-Authenticate": "Bearer"})
