"""Reading and decoding JSON request bodies with a size limit and clear errors."""

from __future__ import annotations

from typing import TypeVar

import msgspec
from starlette.requests import Request

from server.errors import APIError

T = TypeVar("T")


async def read_limited_body(request: Request, limit: int) -> bytes:
    """The raw body; `APIError` ``body_too_large`` (413) as soon as it exceeds ``limit``."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise APIError("body_too_large", f"request body exceeds {limit} bytes")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise APIError("body_too_large", f"request body exceeds {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


def decode_body(raw: bytes, decoder: msgspec.json.Decoder[T]) -> T:
    """Decode with msgspec; malformed JSON is 400, a schema mismatch is 422."""
    if not raw.strip():
        raise APIError("invalid_json", "request body is empty; expected a JSON object")
    try:
        return decoder.decode(raw)
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
