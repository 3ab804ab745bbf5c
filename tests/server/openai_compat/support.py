"""Shared pieces of the /v1/chat/completions tests against the embedded simulated provider."""

from __future__ import annotations

from typing import Any

import aiohttp

FAST_SIMULATED = {
    "FRUGAL_SIMULATED_CHEAP_TTFT_MS": "0",
    "FRUGAL_SIMULATED_STRONG_TTFT_MS": "0",
    "FRUGAL_SIMULATED_CHEAP_TOKENS_PER_S": "100000",
    "FRUGAL_SIMULATED_STRONG_TOKENS_PER_S": "100000",
}


MAX_BODY_BYTES = 4096


FRUGAL_KEYS = {
    "cost_usd_micros",
    "cost_known",
    "saved_usd_micros",
    "cache",
    "route",
    "model",
    "used_fallback",
    "fallback_reason",
    "request_id",
}


async def post_stream(
    http: aiohttp.ClientSession, base_url: str, payload: dict[str, Any], **headers: str
) -> tuple[aiohttp.ClientResponse, str]:
    """POST a streaming request; (the response, its whole text)."""
    async with http.post(
        f"{base_url}/v1/chat/completions", json={**payload, "stream": True}, headers=headers
    ) as resp:
        text = await resp.text()
    assert resp.status == 200, text
    assert resp.headers["content-type"].startswith("text/event-stream")
    return resp, text
