"""`AnthropicBatchAPI`: Anthropic's Message Batches as a `ProviderBatchAPI`, so lines for
Anthropic models are billed at Anthropic's batch price too.

It takes Messages bodies (`agent.batch.provider_wire` made them: a Messages line as the caller
wrote it, a Chat Completions line translated like an interactive call), sends them under a
positional id (``r<index>``; Anthropic only takes ``[A-Za-z0-9_-]{1,64}``), and gives the
results back as Anthropic wrote them. Anthropic batches carry no metadata, so an interrupted
submission cannot be looked up (`can_find` is False): the group's lines then fail rather than
risk a second submission.
"""

from __future__ import annotations

from typing import Any, Final

import aiohttp
import msgspec

from agent.batch.provider_wire import ProviderWire
from agent.errors import ProtocolError
from agent.http import json_timeout, map_aiohttp_errors, raise_for_status

API_VERSION: Final = "2023-06-01"
_decoder = msgspec.json.Decoder()
_encoder = msgspec.json.Encoder()


class AnthropicBatchAPI:
    """A `ProviderBatchAPI` on Anthropic's ``/v1/messages/batches`` at ``base_url``."""

    wire: ProviderWire = "anthropic"
    positional = True
    """Results come back under ``r<index>`` in the order the lines were submitted."""
    can_find = False

    def __init__(
        self,
        session: aiohttp.ClientSession,
        *,
        base_url: str,
        api_key: str,
        provider: str = "anthropic",
        timeout_s: float = 60.0,
    ) -> None:
        self._session = session
        self._base = base_url.rstrip("/") + "/v1/messages/batches"
        self._headers = {"x-api-key": api_key, "anthropic-version": API_VERSION}
        self._provider = provider
        self._timeout = json_timeout(session, timeout_s)

    async def submit(self, lines: bytes, *, idempotency_key: str) -> str:
        """Send the lines' Messages bodies as one message batch; its id."""
        requests = [
            {"custom_id": f"r{index}", "params": _decoder.decode(raw)["body"]}
            for index, raw in enumerate(line for line in lines.splitlines() if line.strip())
        ]
        created = await self._json("POST", "", json={"requests": requests})
        return _text(created, "id")

    async def find(self, idempotency_key: str) -> str | None:
        """Always None: Anthropic batches carry no metadata to find them by."""
        return None

    async def retrieve(self, batch_id: str) -> dict[str, Any]:
        """The batch in OpenAI's terms: ``status``, and ``output_file_id`` once it ended."""
        batch = await self._json("GET", f"/{batch_id}")
        status = {"in_progress": "in_progress", "canceling": "cancelling"}.get(
            str(batch.get("processing_status")), "ended"
        )
        if status != "ended":
            return {"id": batch_id, "status": status}
        counts = batch.get("request_counts") or {}
        if batch.get("cancel_initiated_at"):
            status = "cancelled"
        elif counts.get("expired"):
            status = "expired"
        else:
            status = "completed"
        return {"id": batch_id, "status": status, "output_file_id": batch_id}

    async def content(self, file_id: str) -> bytes:
        """The batch's results as OpenAI batch output lines whose bodies are Anthropic's
        ``message``s (canceled and expired requests are left out: the group ends them from
        the batch's status)."""
        with map_aiohttp_errors(self._provider):
            async with self._session.get(
                f"{self._base}/{file_id}/results", headers=self._headers, timeout=self._timeout
            ) as response:
                await raise_for_status(response, provider=self._provider)
                raw = await response.read()
        out = []
        for line in raw.splitlines():
            if not line.strip():
                continue
            item = _decoder.decode(line)
            result = item.get("result") or {}
            kind = result.get("type")
            if kind == "succeeded":
                response_line = {"status_code": 200, "body": result["message"]}
            elif kind == "errored":
                response_line = {"status_code": 500, "body": {"error": result.get("error")}}
            else:
                continue
            out.append(_encoder.encode({"custom_id": item["custom_id"], "response": response_line}))
        return b"\n".join(out)

    async def cancel(self, batch_id: str) -> None:
        """Ask Anthropic to stop the batch."""
        await self._json("POST", f"/{batch_id}/cancel")

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


def _text(body: dict[str, Any], name: str) -> str:
    value = body.get(name)
    if not isinstance(value, str):
        raise ProtocolError(f"the provider's answer has no {name!r}")
    return value
