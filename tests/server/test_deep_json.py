"""JSON nested deeper than the interpreter's recursion limit, on every endpoint that takes a
JSON body: a 400 in the protocol's own error shape, never a 500 (schemathesis-style odd input;
msgspec signals it with a RecursionError, see `agent.untrusted_json`)."""

from __future__ import annotations

import aiohttp
import pytest

from server.config import load_settings
from tests.support.gateway import run_gateway

pytestmark = pytest.mark.anyio

ADMIN_KEY = "deep-json-admin-key-0123456789"
DEEP_ARRAY = b"[" * 100_000 + b"]" * 100_000
DEEP_OBJECT = b'{"a":' * 10_000 + b"1" + b"}" * 10_000
# A valid request whose one unknown field nests too deeply: the typed views skip it.
DEEP_FIELD = (
    b'{"model": "auto", "max_tokens": 5, "messages": [{"role": "user", "content": "hi"}],'
    b' "input": "hi", "input_file_id": "f", "endpoint": "/v1/chat/completions", "x": '
    + DEEP_ARRAY
    + b"}"
)
OPENAI = ("/v1/chat/completions", "/v1/responses", "/v1/embeddings", "/v1/batches")
ANTHROPIC = ("/v1/messages", "/v1/messages/count_tokens", "/v1/messages/batches")
FRUGAL = ("/chat", "/chat/feedback", "/admin/cache/invalidate")


async def test_too_deep_json_is_a_400_in_each_protocols_shape() -> None:
    settings = load_settings({"FRUGAL_SERVER_ADMIN_KEY": ADMIN_KEY})
    headers = {"Authorization": f"Bearer {ADMIN_KEY}", "Content-Type": "application/json"}
    async with run_gateway(settings) as gateway, aiohttp.ClientSession() as http:
        for path in (*OPENAI, *ANTHROPIC, *FRUGAL):
            for body in (DEEP_ARRAY, DEEP_OBJECT, DEEP_FIELD):
                url = f"{gateway.base_url}{path}"
                async with http.post(url, data=body, headers=headers) as answer:
                    error = await answer.json()
                    status = answer.status
                if path in FRUGAL:
                    # Frugal's own bodies are typed throughout (refused at the first bracket)
                    # or small (/chat/feedback takes 4 KiB).
                    assert status in (400, 413, 422), (path, error)
                    assert isinstance(error["error"]["code"], str), path
                    continue
                assert status == 400, (path, error)
                if path in ANTHROPIC:
                    assert error["type"] == "error", path
                    assert error["error"]["type"] == "invalid_request_error", path
                else:
                    assert error["error"]["type"] == "invalid_request_error", path
