"""``/v1/files`` in OpenAI's shape: upload a batch input (multipart), read a file's object,
download its bytes (inputs, and the batch lane's output and error files). A file belongs to
the tenant that uploaded it (or whose batch wrote it): any other caller gets a 404."""

from __future__ import annotations

import email
import email.policy
from typing import Final

import anyio
import msgspec
from starlette.requests import Request
from starlette.responses import Response

from agent.batch import BatchLane
from server.auth import Caller
from server.errors import APIError
from server.routes.admission import accounted
from server.routes.body import read_limited_body
from server.state import AppState

_encoder: Final = msgspec.json.Encoder()


def lane_of(state: AppState) -> BatchLane:
    """The app's batch lane; 404 when it is disabled."""
    if state.batch is None:
        raise APIError("not_found", "the batch lane is disabled on this gateway")
    return state.batch


def parse_form(content_type: str, body: bytes) -> dict[str, tuple[str | None, bytes]]:
    """The parts of a ``multipart/form-data`` body by name: (filename, bytes)."""
    head = f"Content-Type: {content_type}\r\nMIME-Version: 1.0\r\n\r\n".encode()
    message = email.message_from_bytes(head + body, policy=email.policy.HTTP)
    fields: dict[str, tuple[str | None, bytes]] = {}
    for part in message.iter_parts() if message.is_multipart() else ():
        name = part.get_param("name", header="content-disposition")
        payload = part.get_payload(decode=True)
        if isinstance(name, str) and isinstance(payload, bytes):
            fields[name] = (part.get_filename(), payload)
    return fields


@accounted("files")
async def create_file(
    state: AppState, request: Request, caller: Caller, started: float
) -> Response:
    """POST /v1/files: ``file`` and ``purpose`` (``batch``) as multipart form fields."""
    lane = lane_of(state)
    content_type = request.headers.get("content-type", "")
    if not content_type.startswith("multipart/form-data"):
        raise APIError("invalid_batch", "expected a multipart/form-data body")
    raw = await read_limited_body(
        request,
        state.settings.batch.max_file_bytes,
        timeout_s=state.settings.server.body_read_timeout_s,
    )
    fields = await anyio.to_thread.run_sync(parse_form, content_type, raw)
    upload, purpose = fields.get("file"), fields.get("purpose")
    if upload is None or purpose is None:
        raise APIError("invalid_batch", "both 'file' and 'purpose' are required")
    file = await lane.upload(
        caller.tenant,
        upload[1],
        filename=upload[0] or "upload.jsonl",
        purpose=purpose[1].decode(errors="replace"),
    )
    return Response(_encoder.encode(file), media_type="application/json")


@accounted("files")
async def retrieve_file(
    state: AppState, request: Request, caller: Caller, started: float
) -> Response:
    """GET /v1/files/{file_id} (the caller's tenant's files only)."""
    file = await lane_of(state).file(caller.tenant, request.path_params["file_id"])
    return Response(_encoder.encode(file), media_type="application/json")


@accounted("files")
async def file_content(
    state: AppState, request: Request, caller: Caller, started: float
) -> Response:
    """GET /v1/files/{file_id}/content: the file's bytes (the caller's tenant's only)."""
    content = await lane_of(state).file_content(caller.tenant, request.path_params["file_id"])
    return Response(content, media_type="application/octet-stream")
