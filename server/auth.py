"""API keys: who is calling (the tenant, and the verified user if any) and whom the inbound
rate limit counts against.

Keys come from ``[auth].api_keys`` as ``tenant:key`` or ``tenant:key:user`` (the key itself or
``sha256:<hex>`` of it, `server.key_entries`); a key with a user
makes that user the verified identity of every request made with it. Otherwise a user is
verified only through the signed-user headers (`server.signed_user`). Keys are held only as
SHA-256 digests, so the lookup compares digests (no key-dependent timing on the secret itself)
and no key can leak from memory dumps of the table or into logs. With no keys configured auth
is off: every caller is tenant ``default``, rate limits apply per client address, and the
request's own ``user_id`` is taken as given.

Failed authentications (bad key, bad signature, wrong admin key) are counted per client
address by a `FailedAuthLimiter` (fleet-wide with Redis); over the limit every attempt from
there is a 429.
"""

from __future__ import annotations

import hmac
from collections.abc import Sequence
from typing import Final

import msgspec
from starlette.requests import HTTPConnection

from server.auth_failures import FailedAuthLimiter, FailureLedger
from server.errors import APIError
from server.key_entries import configured_digest, presented_digest, split_entry
from server.signed_user import USER_HEADER, UserSignatures

DEFAULT_TENANT: Final = "default"
STREAM_KEY_PARAM: Final = "api_key"
"""Query parameter carrying the key on ``GET /chat/stream`` (an EventSource sends no headers)."""


class Caller(msgspec.Struct, frozen=True):
    """The tenant a request bills to, the subject its rate limit counts against
    (``key:<digest prefix>`` or ``ip:<address>``; never the key itself), and the verified
    ``user`` (None: nobody vouched for one). ``authenticated`` is False when auth is off."""

    tenant: str
    subject: str
    user: str | None = None
    authenticated: bool = False


class _KeyEntry(msgspec.Struct, frozen=True):
    tenant: str
    user: str | None


class ApiKeys:
    """The configured keys; `identify` turns a request into a `Caller` or raises 401, and
    `stats_scope` guards the operator endpoints."""

    def __init__(
        self,
        entries: Sequence[str],
        *,
        trust_forwarded_for: bool = False,
        signing_keys: Sequence[str] = (),
        signature_window_s: int = 300,
        read_keys: Sequence[str] = (),
        admin_key: str | None = None,
        max_failures_per_minute: int = 20,
        failure_ledger: FailureLedger | None = None,
    ) -> None:
        self._by_digest: dict[bytes, _KeyEntry] = {}
        for entry in entries:
            tenant, key, user = split_entry(entry)
            self._by_digest[configured_digest(key)] = _KeyEntry(tenant, user or None)
        self._read_tenant_by_digest = {
            configured_digest(parts.key): parts.tenant for parts in map(split_entry, read_keys)
        }
        self._admin_digest = _digest(admin_key) if admin_key else None
        self._signatures = UserSignatures(signing_keys, window_s=signature_window_s)
        self.failures = FailedAuthLimiter(max_failures_per_minute, shared=failure_ledger)
        """Failed authentications per client address (admin checks count here too), shared
        by the replicas through ``failure_ledger`` if given (see `keep_syncing` there)."""
        self._trust_forwarded_for = trust_forwarded_for

    @property
    def enabled(self) -> bool:
        """True when at least one key is configured."""
        return bool(self._by_digest)

    def identify(self, request: HTTPConnection, *, query_key: str | None = None) -> Caller:
        """The caller of ``request``: by ``Authorization: Bearer``, ``x-api-key`` or
        ``query_key``; raises `APIError` ``unauthorized`` (401) when auth is on and the key
        is missing or unknown or the signed-user headers do not verify, ``forbidden`` (403)
        when they name another user than the key's own, ``rate_limited`` (429) when this
        address failed too often."""
        address = self.client_address(request)
        if not self.enabled:
            return Caller(DEFAULT_TENANT, f"ip:{address}")
        self.failures.check(address)
        try:
            return self._identify(request, query_key)
        except APIError as exc:
            if exc.code == "unauthorized":
                self.failures.record(address)
            raise

    def _identify(self, request: HTTPConnection, query_key: str | None) -> Caller:
        key = _presented_key(request) or query_key
        if not key:
            raise _unauthorized("an API key is required (Authorization: Bearer <key>)")
        digest = _digest(key)
        entry = self._by_digest.get(digest)
        if entry is None:
            raise _unauthorized("the API key is not valid")
        subject = f"key:{digest.hex()[:16]}"
        if entry.user is not None:
            claimed = request.headers.get(USER_HEADER)
            if claimed is not None and claimed != entry.user:
                raise APIError(
                    "forbidden", f"this API key acts only for its own user; {USER_HEADER} differs"
                )
            return Caller(entry.tenant, subject, entry.user, authenticated=True)
        user = self._signatures.verified_user(entry.tenant, request.headers)
        return Caller(entry.tenant, subject, user, authenticated=True)

    def stats_scope(self, request: HTTPConnection, *, allow_read_key: bool) -> str | None:
        """Who may read an operator endpoint: None for everything (the admin key, or auth
        off), a tenant name when a read key of that tenant was shown (only if
        ``allow_read_key``). Raises `APIError` ``unauthorized`` (401) or ``rate_limited``."""
        if not self.enabled:
            return None
        address = self.client_address(request)
        self.failures.check(address)
        key = _presented_key(request)
        digest = _digest(key) if key else None
        admin = self._admin_digest
        if digest is not None and admin is not None and hmac.compare_digest(digest, admin):
            return None
        if digest is not None and allow_read_key:
            tenant = self._read_tenant_by_digest.get(digest)
            if tenant is not None:
                return tenant
        self.failures.record(address)
        what = "the admin key or a tenant read key" if allow_read_key else "the admin key"
        raise _unauthorized(f"{what} is required (Authorization: Bearer <key> or x-api-key)")

    def client_address(self, request: HTTPConnection) -> str:
        """The client's address (the first ``X-Forwarded-For`` hop when that is trusted)."""
        if self._trust_forwarded_for:
            forwarded = request.headers.get("x-forwarded-for", "")
            first = forwarded.split(",", 1)[0].strip()
            if first:
                return first
        return request.client.host if request.client else "unknown"


def claimed_user(caller: Caller, claimed: str | None) -> str | None:
    """The user a request acts for. Auth off: ``claimed`` as given. Auth on: the verified user;
    a request naming any other user is refused with `APIError` ``forbidden`` (403)."""
    if not caller.authenticated:
        return claimed
    if claimed is not None and claimed != caller.user:
        raise APIError(
            "forbidden",
            "user_id does not match the verified user of this request "
            "(a key bound to a user, or signed x-frugal-user headers)",
        )
    return caller.user


def admin_key_matches(request: HTTPConnection, admin_key: str) -> bool:
    """Whether the request shows ``admin_key`` (Bearer or ``x-api-key``), compared in
    constant time."""
    given = _presented_key(request)
    return given is not None and hmac.compare_digest(_digest(given), _digest(admin_key))


def _presented_key(request: HTTPConnection) -> str | None:
    authorization = request.headers.get("authorization", "")
    scheme, _, credentials = authorization.partition(" ")
    if scheme.lower() == "bearer" and credentials.strip():
        return credentials.strip()
    return request.headers.get("x-api-key") or None


def _digest(key: str) -> bytes:
    return presented_digest(key)


def _unauthorized(message: str) -> APIError:
    return APIError("unauthorized", message, headers={"WWW-Authenticate": "Bearer"})
