"""`StoreToolResultCache`: tool results reused per (tool, arguments, user) over a `TTLStore`.

Only tools that say so are cached: a tool with ``cacheable = True`` and ``cache_ttl_s > 0``
(HTTP tools declare both). The user is part of the key, so one user's personal data is never
served to another. Store trouble is a miss, never a failed call.
"""

from __future__ import annotations

import hashlib
import logging
import time

import msgspec

from agent.tools.base import ToolCall, ToolRegistry, ToolResult
from cache.base import TTLStore
from cache.errors import CacheError
from cache.keys import TOOL_RESULT_PREFIX

_log = logging.getLogger(__name__)


class StoreToolResultCache:
    """Implements `agent.pipeline.profile.ToolResultCache` for the tools of ``tools``."""

    def __init__(self, store: TTLStore, tools: ToolRegistry, *, namespace: str = "") -> None:
        self._store = store
        self._tools = tools
        self._namespace = namespace
        self._decoder = msgspec.json.Decoder(ToolResult)

    def _ttl(self, name: str) -> float:
        tool = self._tools.get(name)
        if tool is None or not getattr(tool, "cacheable", False):
            return 0.0
        return float(getattr(tool, "cache_ttl_s", 0.0))

    def _key(self, call: ToolCall, user: str | None) -> str:
        raw = msgspec.json.encode([self._namespace, call.name, call.args, user], order="sorted")
        return TOOL_RESULT_PREFIX + hashlib.sha256(raw).hexdigest()

    async def get(self, call: ToolCall, user: str | None) -> ToolResult | None:
        """The stored result (marked ``cached``, this call's id), or None."""
        if self._ttl(call.name) <= 0:
            return None
        try:
            raw = await self._store.get(self._key(call, user))
        except CacheError as exc:
            _log.warning("tool result cache read failed: %s", exc)
            return None
        if raw is None:
            return None
        try:
            found = self._decoder.decode(raw)
        except msgspec.DecodeError:
            return None
        return msgspec.structs.replace(
            found, call_id=call.call_id, cached=True, elapsed_ms=0.0, started=time.perf_counter()
        )

    async def put(self, call: ToolCall, user: str | None, result: ToolResult) -> None:
        """Store an ``ok`` result for the tool's TTL."""
        ttl = self._ttl(call.name)
        if ttl <= 0 or not result.ok:
            return
        try:
            await self._store.set(self._key(call, user), msgspec.json.encode(result), ttl)
        except CacheError as exc:
            _log.warning("tool result cache write failed: %s", exc)
