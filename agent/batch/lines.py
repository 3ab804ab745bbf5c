"""Batch lines in and out: the caller's JSONL parsed into lines, provider answers turned into
`LineResult`s, and the output and error files written in OpenAI's batch format."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Any

import msgspec

from agent import untrusted_json
from agent.batch.wire import ENDPOINTS, LineResult, LineStatus
from agent.core import CompletionRequest, decode_completion_request, decode_messages_request

_decoder = msgspec.json.Decoder()
_encoder = msgspec.json.Encoder()
MAX_LINES = 50_000


@dataclass(frozen=True, slots=True)
class Line:
    """One request of a batch: the caller's ``custom_id`` and body, in ``protocol``
    (``openai``: a Chat Completions body; ``anthropic``: a Messages body)."""

    custom_id: str
    body: dict[str, Any]
    protocol: str = "openai"

    @property
    def raw(self) -> bytes:
        """The body as JSON bytes."""
        return _encoder.encode(self.body)

    def request(self, tenant: str) -> CompletionRequest:
        """The line as the completion core carries it (decoded like the interactive endpoint
        of its protocol). Raises `agent.core.InvalidParam`."""
        if self.protocol == "anthropic":
            return decode_messages_request(self.raw, tenant=tenant)
        return decode_completion_request(self.raw, tenant=tenant)


def parse_input(content: bytes, endpoint: str) -> tuple[list[Line], list[str]]:
    """The lines of an input file, and what is wrong with it (empty when nothing is).

    Each line needs a unique ``custom_id``, ``method`` POST, ``url`` equal to ``endpoint``
    and an object ``body``; OpenAI refuses the whole batch otherwise, and so does Frugal.
    """
    lines: list[Line] = []
    problems: list[str] = []
    seen: set[str] = set()
    protocol = ENDPOINTS.get(endpoint, "openai")
    for number, raw in enumerate(content.splitlines(), start=1):
        if not raw.strip():
            continue
        try:
            item = untrusted_json.decode(raw, _decoder)
        except msgspec.DecodeError:
            problems.append(f"line {number}: not valid JSON")
            continue
        custom_id = item.get("custom_id") if isinstance(item, dict) else None
        if not isinstance(item, dict) or not isinstance(custom_id, str) or not custom_id:
            problems.append(f"line {number}: custom_id must be a non-empty string")
        elif custom_id in seen:
            problems.append(f"line {number}: custom_id {custom_id!r} is used twice")
        elif item.get("method", "POST") != "POST" or item.get("url") != endpoint:
            problems.append(f"line {number}: method must be POST and url {endpoint}")
        elif not isinstance(item.get("body"), dict):
            problems.append(f"line {number}: body must be a JSON object")
        else:
            seen.add(custom_id)
            lines.append(Line(custom_id, item["body"], protocol))
    if not lines and not problems:
        problems.append("the input file holds no requests")
    if len(lines) > MAX_LINES:
        problems.append(f"a batch holds at most {MAX_LINES} requests")
    return lines, problems[:100]


def provider_jsonl(bodies: list[tuple[str, dict[str, Any]]], url: str) -> bytes:
    """The input file of a provider batch: one ``(custom_id, body)`` per line, each a
    ``POST`` to ``url`` (bodies as `agent.batch.provider_wire.provider_body` made them)."""
    return b"".join(
        _encoder.encode({"custom_id": custom_id, "method": "POST", "url": url, "body": body})
        + b"\n"
        for custom_id, body in bodies
    )


def provider_results(content: bytes) -> dict[str, tuple[int, dict[str, Any]]]:
    """A provider's output or error file: custom_id → (status code, response body).

    A line the provider could not even send carries ``error`` instead of ``response``; it is
    reported as a 500 with that error.
    """
    found: dict[str, tuple[int, dict[str, Any]]] = {}
    for raw in content.splitlines():
        if not raw.strip():
            continue
        try:
            item = untrusted_json.decode(raw, _decoder)
        except msgspec.DecodeError:
            continue  # one torn line must not lose the others; it ends as a missing line
        if not isinstance(item, dict) or not isinstance(item.get("custom_id"), str):
            continue
        response = item.get("response")
        if isinstance(response, dict) and isinstance(response.get("body"), dict):
            found[item["custom_id"]] = (int(response.get("status_code") or 500), response["body"])
        else:
            error = item.get("error") if isinstance(item.get("error"), dict) else {}
            found[item["custom_id"]] = (500, {"error": error})
    return found


def failed(
    custom_id: str,
    code: str,
    message: str,
    *,
    status: LineStatus = "failed",
    status_code: int = 500,
    source: Any = "gateway",
) -> LineResult:
    """A line that ended without an answer, with OpenAI's error object."""
    return LineResult(
        custom_id,
        status,
        source,
        status_code=status_code,
        error={"code": code, "message": message},
    )


def render(lines: list[Line], results: dict[str, LineResult]) -> tuple[bytes, bytes]:
    """The output file (completed lines) and error file (every other line), in input order."""
    output: list[bytes] = []
    errors: list[bytes] = []
    for line in lines:
        result = results[line.custom_id]
        response: dict[str, Any] | None = None
        error: dict[str, str] | None = None
        if result.body is not None:
            response = {
                "status_code": result.status_code,
                "request_id": f"req_{secrets.token_hex(12)}",
                "body": result.body,
            }
        else:
            error = result.error or {"code": result.status, "message": f"line {result.status}"}
        item = {
            "id": f"batch_req_{secrets.token_hex(12)}",
            "custom_id": line.custom_id,
            "response": response,
            "error": error,
        }
        target = output if result.status == "completed" else errors
        target.append(_encoder.encode(item) + b"\n")
    return b"".join(output), b"".join(errors)
