"""Exceptions raised by the ``cache`` package."""

from __future__ import annotations


class CacheError(Exception):
    """Base of every error raised by the ``cache`` package."""

    code = "cache_error"


class StoreUnavailable(CacheError):
    """The backing store (Redis) could not be reached or answered too slowly.

    Callers on the request path catch this and serve without the cache (fail open).
    """

    code = "store_unavailable"
