"""Configured API key entries: ``tenant:key[:user]``, where the key is either the key itself or,
so that the configuration never holds it, ``sha256:<64 hex digits>`` of it.

Both `server.settings_policy` (checks) and `server.auth` (lookup) read entries through here, so
a hashed and a plain key are the same key to both.
"""

from __future__ import annotations

import hashlib
import re
from typing import Final, NamedTuple

HASHED_PREFIX: Final = "sha256:"
_HASHED_RE: Final = re.compile(r"sha256:[0-9a-f]{64}")
MIN_PLAIN_KEY_CHARS: Final = 16


class KeyEntry(NamedTuple):
    tenant: str
    key: str
    """The key as configured: plain, or ``sha256:<hex>``."""
    user: str


def split_entry(entry: str) -> KeyEntry:
    """``tenant:key[:user]`` split into its parts (a missing user is ``""``)."""
    tenant, _, rest = entry.partition(":")
    if rest.startswith(HASHED_PREFIX):
        key, _, user = rest[len(HASHED_PREFIX) :].partition(":")
        return KeyEntry(tenant, HASHED_PREFIX + key, user)
    key, _, user = rest.partition(":")
    return KeyEntry(tenant, key, user)


def is_valid_key(key: str) -> bool:
    """A well-formed ``sha256:<64 lowercase hex>``, or a plain key of 16+ characters."""
    if key.startswith(HASHED_PREFIX):
        return _HASHED_RE.fullmatch(key) is not None
    return len(key) >= MIN_PLAIN_KEY_CHARS


def configured_digest(key: str) -> bytes:
    """The SHA-256 digest a configured key stands for (a hashed one as given)."""
    if key.startswith(HASHED_PREFIX):
        return bytes.fromhex(key[len(HASHED_PREFIX) :])
    return presented_digest(key)


def presented_digest(key: str) -> bytes:
    """The SHA-256 digest of a key a caller presented."""
    return hashlib.sha256(key.encode("utf-8")).digest()
