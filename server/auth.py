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

Browser pages sign in once (`sign_in`) and then show a session cookie (`server.session_cookie`)
in place of the key; it is accepted only where ``allow_cookie`` says so (the chat stream and
the read-only operator endpoints), never on a state-changing endpoint.
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
from server.session_cookie import COOKIE_NAME, Role, SessionSigner
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
        session_secret: str | None = None,
        session_ttl_s: int = 3600,
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
        self.sessions = SessionSigner(session_secret, ttl_s=session_ttl_s)

    @property
    def enabled(self) -> bool:
        """True when at least one key is configured."""
        return bool(self._by_digest)

    def key_role(self, key: str) -> tuple[Role, str | None] | None:
        """What ``key`` is (an API key, the admin key or a read key) and its tenant (None for
        the admin key); None when it is none of them."""
        digest = _digest(key)
        entry = self._by_digest.get(digest)
        if entry is not None:
            return "caller", entry.tenant
        if self._admin_digest is not None and hmac.compare_digest(digest, self._admin_digest):
            return "admin", None
        tenant = self._read_tenant_by_digest.get(digest)
        return None if tenant is None else ("reader", tenant)

    def sign_in(self, request: HTTPConnection, key: str) -> tuple[str, Role, str | None, int]:
        """A session token for ``key``: (token, role, tenant, expiry). Raises ``unauthorized``
        for an unknown key (counted as a failure) or ``rate_limited``."""
        address = self.client_address(request)
        self.failures.check(address)
        found = self.key_role(key)
        if found is None:
            self.failures.record(address)
            raise _unauthorized("the key is not an API key, the admin key or a read key")
        role, tenant = found
        token, expires_at = self.sessions.issue(role, _digest(key))
        return token, role, tenant, expires_at

    def session(self, request: HTTPConnection) -> tuple[Role, bytes] | None:
        """The role and key digest of the request's session cookie, when it is genuine,
        unexpired and its key is still configured for that role."""
        claims = self.sessions.verify(request.cookies.get(COOKIE_NAME))
        if claims is None or self.session_tenant(claims.role, claims.digest) is False:
            return None
        return claims.role, claims.digest

    def session_tenant(self, role: Role, digest: bytes) -> str | bool | None:
        """The tenant of a session's key (None for the admin key), or False when that key is
        no longer configured as ``role``."""
        if role == "caller":
            entry = self._by_digest.get(digest)
            return False if entry is None else entry.tenant
        if role == "admin":
            admin = self._admin_digest
            return None if admin is not None and hmac.compare_digest(digest, admin) else False
        return self._read_tenant_by_digest.get(digest, False)

    def identify(
        self,
        request: HTTPConnection,
        *,
        query_key: str | None = None,
        allow_cookie: bool = False,
    ) -> Caller:
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
            return self._identify(request, query_key, allow_cookie)
        except APIError as exc:
            if exc.code == "unauthorized":
                self.failures.record(address)
            raise

    def _identify(
        self, request: HTTPConnection, query_key: str | None, allow_cookie: bool
    ) -> Caller:
        key = _presented_key(request) or query_key
        session = self.session(request) if allow_cookie and not key else None
        if session is not None and session[0] == "caller":
            digest = session[1]
        elif not key:
            raise _unauthorized("an API key is required (Authorization: Bearer <key>)")
        else:
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
        ``allow_read_key``). The key comes from the headers or, for these read-only endpoints,
        a browser's session cookie. Raises `APIError` ``unauthorized`` (401) or
        ``rate_limited``."""
        if not self.enabled:
            return None
        address = self.client_address(request)
        self.failures.check(address)
        key = _presented_key(request)
        digest = _digest(key) if key else None
        session = self.session(request) if digest is None else None
        if session is not None and session[0] in ("admin", "reader"):
            digest = session[1]
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

    def page_allowed(self, request: HTTPConnection, *, operator: bool) -> bool:
        """Whether a browser page may be shown: always with auth off; else a key in the headers
        or a session cookie of the right kind (an API key for the chat page; the admin key or
        a read key for the dashboard). Nothing is counted as a failure: the answer is the
        sign-in form."""
        if not self.enabled:
            return True
        key = _presented_key(request)
        session = self.session(request)
        if key is not None:
            found = self.key_role(key)
            role = found[0] if found is not None else None
        else:
            role = session[0] if session is not None else None
        return role in (("admin", "reader") if operator else ("caller",))


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
