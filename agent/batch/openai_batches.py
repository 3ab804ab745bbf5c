"""`OpenAIBatchAPI`: a provider's own batch API on OpenAI's wire (``/files`` + ``/batches``).

Submitting uploads the JSONL and creates a batch whose metadata carries the idempotency key,
so `find` can tell after a restart whether a half-finished submission reached the provider.
"""

from __future__ import annotations

from typing import Any, Final

import aiohttp
import msgspec

from agent.batch.provider_wire import ProviderWire
from agent.errors import ProtocolError
from agent.http import json_timeout, map_aiohttp_errors, raise_for_status

IDEMPOTENCY_FIELD: Final = "frugal_idempotency_key"
_LIST_PAGE: Final = 100
_MAX_PAGES: Final = 20
_decoder = msgspec.json.Decoder()


class OpenAIBatchAPI:
    """A `ProviderBatchAPI` at ``base_url`` (ending in ``/v1``) with ``api_key``."""

    wire: ProviderWire = "openai"
    positional = False
    can_find = True

    def __init__(
        self,
        session: aiohttp.ClientSession,
        *,
        base_url: str,
        api_key: str,
        provider: str = "openai",
        timeout_s: float = 60.0,
    ) -> None:
        self._session = session
        self._base = base_url.rstrip("/")
        self._headers = {"Authorization": f"Bearer {api_key}"}
        self._provider = provider
        self._timeout = json_timeout(session, timeout_s)

    async def submit(self, lines: bytes, *, idempotency_key: str) -> str:
        """Upload ``lines`` (JSONL) and start a batch over them; its provider id."""
        form = aiohttp.FormData()
        form.add_field("purpose", "batch")
        form.add_field(
            "file", lines, filename=f"{idempotency_key}.jsonl", content_type="application/jsonl"
        )
        uploaded = await self._json("POST", "/files", data=form)
        created = await self._json(
            "POST",
            "/batches",
            json={
                "input_file_id": _field(uploaded, "id"),
                "endpoint": "/v1/chat/completions",
                "completion_window": "24h",
                "metadata": {IDEMPOTENCY_FIELD: idempotency_key},
            },
        )
        return _field(created, "id")

    async def find(self, idempotency_key: str) -> str | None:
        """The id of a batch submitted earlier with ``idempotency_key``, or None."""
        after: str | None = None
        for _ in range(_MAX_PAGES):
            query = f"?limit={_LIST_PAGE}" + (f"&after={after}" if after else "")
            page = await self._json("GET", "/batches" + query)
            data = page.get("data") or []
            for batch in data:
                if (batch.get("metadata") or {}).get(IDEMPOTENCY_FIELD) == idempotency_key:
                    return _field(batch, "id")
            if not page.get("has_more") or not data:
                return None
            after = _field(data[-1], "id")
        return None

    async def retrieve(self, batch_id: str) -> dict[str, Any]:
        """The provider's batch object."""
        return await self._json("GET", f"/batches/{batch_id}")

    async def content(self, file_id: str) -> bytes:
        """A file's bytes (a batch's output or error file)."""
        with map_aiohttp_errors(self._provider):
            async with self._session.get(
                f"{self._base}/files/{file_id}/content",
                headers=self._headers,
                timeout=self._timeout,
            ) as response:
                await raise_for_status(response, provider=self._provider)
                return await response.read()

    async def cancel(self, batch_id: str) -> None:
        """Ask the provider to stop the batch (it ends ``cancelled`` later)."""
        await self._json("POST", f"/batches/{batch_id}/cancel")

    async def _json(self, method: str, path: str, **kwargs: Any) -> dict[str, Any]:
        with map_aiohttp_errors(self._provider):
            async with self._session.request(
                method, self._base + path, headers=self._headers, timeout=self._timeout, **kwargs
            ) as response:
                await raise_for_status(response, provider=self._provider)
                body = _decoder.decode(await response.read())
        if not isinstance(body, dict):
            raise ProtocolError(f"{self._provider} sent a non-object body", provider=self._provider)
        return body


def _field(body: dict[str, Any], name: str) -> str:
    value = body.get(name)
    if not isinstance(value, str):
        raise ProtocolError(f"the provider's answer has no {name!r}")
    return value
