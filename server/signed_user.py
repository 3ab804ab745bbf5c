"""The signed-user headers: how an operator's backend vouches for the end user of a request.

``x-frugal-user``, ``x-frugal-user-ts`` (unix seconds) and ``x-frugal-user-sig``, the hex
HMAC-SHA256 of ``"{tenant}\\n{user}\\n{ts}"`` under the tenant's secret
(``[auth].user_signing_keys``). A signature is good for ``window_s`` seconds either side of
its timestamp, so a captured header cannot be replayed for long.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Final

from server.errors import APIError

USER_HEADER: Final = "x-frugal-user"
TS_HEADER: Final = "x-frugal-user-ts"
SIG_HEADER: Final = "x-frugal-user-sig"
MAX_USER_CHARS: Final = 200


def user_signature(secret: str, tenant: str, user: str, ts: str) -> str:
    """The hex HMAC-SHA256 a backend sends as ``x-frugal-user-sig``."""
    message = f"{tenant}\n{user}\n{ts}".encode()
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


class UserSignatures:
    """Checks signed-user headers against each tenant's secret."""

    def __init__(
        self,
        entries: Sequence[str],
        *,
        window_s: int = 300,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._secret_by_tenant = dict(entry.partition(":")[::2] for entry in entries)
        self._window_s = window_s
        self._clock = clock

    def verified_user(self, tenant: str, headers: Mapping[str, str]) -> str | None:
        """The user the headers vouch for; None when no user header is sent. Raises
        `APIError` ``unauthorized`` when they are incomplete, stale or wrongly signed."""
        user = headers.get(USER_HEADER)
        ts = headers.get(TS_HEADER)
        sig = headers.get(SIG_HEADER)
        if user is None and ts is None and sig is None:
            return None
        if not user or not ts or not sig:
            raise _unauthorized(f"{USER_HEADER} needs {TS_HEADER} and {SIG_HEADER}")
        if len(user) > MAX_USER_CHARS:
            raise _unauthorized(f"{USER_HEADER} is longer than {MAX_USER_CHARS} characters")
        secret = self._secret_by_tenant.get(tenant)
        if secret is None:
            raise _unauthorized(f"tenant {tenant!r} has no user signing key; {USER_HEADER} refused")
        if not ts.isdigit() or abs(self._clock() - int(ts)) > self._window_s:
            raise _unauthorized(f"{TS_HEADER} is not a unix time within {self._window_s} s of now")
        expected = user_signature(secret, tenant, user, ts)
        if not hmac.compare_digest(expected.encode(), sig.strip().lower().encode()):
            raise _unauthorized(f"{SIG_HEADER} does not match the user and timestamp")
        return user


def _unauthorized(message: str) -> APIError:
    return APIError("unauthorized", f"signed user rejected: {message}")
