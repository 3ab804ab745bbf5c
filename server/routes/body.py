"""Reading and decoding JSON request bodies with a size limit, a time limit and clear errors.

A hostile or broken client is the caller's fault, never ours: a body larger than the limit is
413 ``body_too_large``, one that takes longer than ``timeout_s`` to arrive (a slow drip, or a
``Content-Length`` that is never honoured) is 408 ``request_timeout``, and a client that hangs
up mid-upload is 499 ``client_closed_request`` (nobody reads that answer; the request log and
the metrics do).
"""

from __future__ import annotations

from typing import TypeVar

import anyio
import msgspec
from starlette.requests import ClientDisconnect, Request

from agent import untrusted_json
from server.errors import APIError

T = TypeVar("T")

DEFAULT_BODY_READ_TIMEOUT_S = 30.0


async def read_limited_body(
    request: Request, limit: int, *, timeout_s: float = DEFAULT_BODY_READ_TIMEOUT_S
) -> bytes:
    """The raw body. Raises `APIError` ``body_too_large`` (413) as soon as it exceeds
    ``limit``, ``request_timeout`` (408) when the whole body has not arrived within
    ``timeout_s`` seconds, ``client_closed_request`` (499) when the client disconnects."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise APIError("body_too_large", f"request body exceeds {limit} bytes")
    chunks: list[bytes] = []
    size = 0
    with anyio.move_on_after(timeout_s) as scope:
        try:
            async for chunk in request.stream():
                size += len(chunk)
                if size > limit:
                    raise APIError("body_too_large", f"request body exceeds {limit} bytes")
                chunks.append(chunk)
        except ClientDisconnect as exc:
            raise APIError(
                "client_closed_request", "the client closed the connection mid-body"
            ) from exc
    if scope.cancelled_caught:
        raise APIError("request_timeout", f"the request body did not arrive within {timeout_s:g} s")
    return b"".join(chunks)


def decode_body(raw: bytes, decoder: msgspec.json.Decoder[T]) -> T:
    """Decode with msgspec; malformed JSON is 400, a schema mismatch is 422."""
    if not raw.strip():
        raise APIError("invalid_json", "request body is empty; expected a JSON object")
    try:
        return untrusted_json.decode(raw, decoder)
    except msgspec.ValidationError as exc:
        text = str(exc)
        code = (
            "unknown_field"
            if text.startswith("Object contains unknown field")
            else ("invalid_request")
        )
        raise APIError(code, text) from exc
    except msgspec.DecodeError as exc:
        raise APIError("invalid_json", f"malformed JSON: {exc}") from exc
