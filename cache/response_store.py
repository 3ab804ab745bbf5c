"""`ResponseStore`: stored OpenAI Responses (``store: true``) in any `TTLStore`, per tenant.

One entry per response holds the Response object, the request's own input items and the
conversation items that came before them (from ``previous_response_id``), so a later turn
continues with one read on any replica sharing the store. Keys carry the tenant
(``resp:<tenant>:<id>``): a tenant can only ever read, list or delete its own responses.
With the fail-open Redis store, an outage reads as "not found" and writes are skipped.
"""

from __future__ import annotations

from typing import Any, Final

import msgspec

from cache.base import TTLStore
from cache.keys import RESPONSE_PREFIX, RESPONSE_TTL_S

MAX_ID_LENGTH: Final = 200


class StoredResponse(msgspec.Struct, frozen=True):
    """A stored response: the Response object, this request's ``input_items`` and the
    ``context`` items of the conversation before them."""

    response: dict[str, Any]
    input_items: list[dict[str, Any]]
    context: list[dict[str, Any]] = msgspec.field(default_factory=list)

    def conversation(self) -> list[dict[str, Any]]:
        """Every item of the conversation up to and including this response's output."""
        return [*self.context, *self.input_items, *(self.response.get("output") or [])]


class ResponseStore:
    """Stored responses over ``store``, each kept ``ttl_s`` seconds."""

    def __init__(self, store: TTLStore, *, ttl_s: float = RESPONSE_TTL_S) -> None:
        self._store = store
        self._ttl_s = ttl_s
        self._encoder = msgspec.json.Encoder()
        self._decoder = msgspec.json.Decoder(StoredResponse)

    async def get(self, tenant: str, response_id: str) -> StoredResponse | None:
        """The tenant's stored response, or None when it is unknown, expired, another
        tenant's, or unreadable."""
        key = _key(tenant, response_id)
        if key is None:
            return None
        raw = await self._store.get(key)
        if raw is None:
            return None
        try:
            return self._decoder.decode(raw)
        except msgspec.DecodeError:
            return None  # written by an incompatible version: as good as gone

    async def put(self, tenant: str, stored: StoredResponse) -> None:
        """Store (or replace) ``stored`` under its response's id."""
        key = _key(tenant, str(stored.response.get("id", "")))
        if key is not None:
            await self._store.set(key, self._encoder.encode(stored), self._ttl_s)

    async def delete(self, tenant: str, response_id: str) -> bool:
        """Delete the tenant's stored response; whether it existed."""
        key = _key(tenant, response_id)
        return key is not None and await self._store.delete(key)


def _key(tenant: str, response_id: str) -> str | None:
    if not response_id or len(response_id) > MAX_ID_LENGTH:
        return None
    return f"{RESPONSE_PREFIX}{tenant}:{response_id}"
