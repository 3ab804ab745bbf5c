"""OpenAI's ``/v1/files``: upload (multipart), retrieve and download, kept in memory."""

from __future__ import annotations

import email
import email.policy
import time
import uuid

import msgspec
from aiohttp import web

from simulator.admission import presented_key

_encoder = msgspec.json.Encoder()


class FileObject(msgspec.Struct):
    """OpenAI's file object."""

    id: str
    bytes: int
    created_at: int
    filename: str
    purpose: str
    object: str = "file"
    status: str = "processed"


class FileStore:
    """Uploaded and generated files by id: their object and their bytes."""

    def __init__(self) -> None:
        self._objects: dict[str, FileObject] = {}
        self._content: dict[str, bytes] = {}

    def add(self, content: bytes, *, filename: str, purpose: str) -> FileObject:
        """Store ``content`` under a fresh id and return its object."""
        file = FileObject(
            f"file-sim{uuid.uuid4().hex[:24]}", len(content), int(time.time()), filename, purpose
        )
        self._objects[file.id] = file
        self._content[file.id] = content
        return file

    def get(self, file_id: str) -> FileObject | None:
        """The file's object, or None when unknown."""
        return self._objects.get(file_id)

    def content(self, file_id: str) -> bytes | None:
        """The file's bytes, or None when unknown."""
        return self._content.get(file_id)


SIM_FILES = web.AppKey("sim_files", FileStore)


def json_response(payload: object, status: int = 200) -> web.Response:
    """``payload`` as a JSON response."""
    return web.Response(
        status=status, body=_encoder.encode(payload), content_type="application/json"
    )


def openai_error(status: int, message: str, kind: str = "invalid_request_error") -> web.Response:
    """An error in OpenAI's shape (``{"error": {"message", "type", ...}}``)."""
    body = {"error": {"message": message, "type": kind, "param": None, "code": None}}
    return json_response(body, status)


def unauthorized(request: web.Request) -> web.Response | None:
    """A 401 when no key was presented (as OpenAI answers), else None."""
    if presented_key(request) is None:
        return openai_error(401, "You didn't provide an API key.", "invalid_request_error")
    return None


async def create_file(request: web.Request) -> web.Response:
    """POST /v1/files: a multipart form with ``file`` and ``purpose``."""
    refused = unauthorized(request)
    if refused is not None:
        return refused
    if request.content_type != "multipart/form-data":
        return openai_error(400, "expected a multipart/form-data body")
    fields = parse_form(request.headers["Content-Type"], await request.read())
    upload, purpose = fields.get("file"), fields.get("purpose")
    if upload is None or purpose is None:
        return openai_error(400, "both 'file' and 'purpose' are required")
    store = request.app[SIM_FILES]
    file = store.add(upload[1], filename=upload[0] or "upload", purpose=purpose[1].decode())
    return json_response(file)


def parse_form(content_type: str, body: bytes) -> dict[str, tuple[str | None, bytes]]:
    """The parts of a multipart/form-data ``body`` by name: (filename, bytes).

    Parsed from the bytes (the request log already read the body, so aiohttp's own form
    reader has nothing left to read)."""
    head = f"Content-Type: {content_type}\r\nMIME-Version: 1.0\r\n\r\n".encode()
    message = email.message_from_bytes(head + body, policy=email.policy.HTTP)
    fields: dict[str, tuple[str | None, bytes]] = {}
    for part in message.iter_parts() if message.is_multipart() else ():
        name = part.get_param("name", header="content-disposition")
        payload = part.get_payload(decode=True)
        if isinstance(name, str) and isinstance(payload, bytes):
            fields[name] = (part.get_filename(), payload)
    return fields


async def retrieve_file(request: web.Request) -> web.Response:
    """GET /v1/files/{file_id}."""
    file = request.app[SIM_FILES].get(request.match_info["file_id"])
    if file is None:
        return openai_error(404, "No such File object")
    return json_response(file)


async def file_content(request: web.Request) -> web.Response:
    """GET /v1/files/{file_id}/content: the raw bytes."""
    content = request.app[SIM_FILES].content(request.match_info["file_id"])
    if content is None:
        return openai_error(404, "No such File object")
    return web.Response(body=content, content_type="application/octet-stream")


def add_file_routes(app: web.Application) -> None:
    """Register the ``/v1/files`` endpoints and their store on ``app``."""
    app[SIM_FILES] = FileStore()
    app.router.add_post("/v1/files", create_file)
    app.router.add_get("/v1/files/{file_id}", retrieve_file)
    app.router.add_get("/v1/files/{file_id}/content", file_content)
