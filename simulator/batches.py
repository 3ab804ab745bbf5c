"""OpenAI's Batch API (``/v1/batches``) over the simulator's own chat answering.

A batch is worked through when it is next looked at (retrieve or list) once its
``batch_delay_s`` has passed: each line is posted to the simulator itself over loopback HTTP,
so it is answered (and faulted, paced, counted) exactly like an interactive request. A line
whose ``custom_id`` contains ``batch_fail_marker`` fails with a 500 in the error file.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import anyio
import msgspec
from aiohttp import web

from simulator.files import SIM_FILES, FileStore, json_response, openai_error, unauthorized
from simulator.state import SIM_STATE

ENDPOINTS = ("/v1/chat/completions", "/v1/embeddings")
_LINE_CONCURRENCY = 16
_TERMINAL = frozenset({"completed", "failed", "expired", "cancelled"})
_decoder = msgspec.json.Decoder()
_encoder = msgspec.json.Encoder()


class RequestCounts(msgspec.Struct):
    """How many lines a batch has, and how many succeeded or failed so far."""

    total: int = 0
    completed: int = 0
    failed: int = 0


class Batch(msgspec.Struct):
    """OpenAI's batch object."""

    id: str
    endpoint: str
    input_file_id: str
    completion_window: str
    status: str
    created_at: int
    request_counts: RequestCounts
    metadata: dict[str, str] | None = None
    object: str = "batch"
    errors: dict[str, Any] | None = None
    output_file_id: str | None = None
    error_file_id: str | None = None
    in_progress_at: int | None = None
    expires_at: int | None = None
    finalizing_at: int | None = None
    completed_at: int | None = None
    failed_at: int | None = None
    expired_at: int | None = None
    cancelling_at: int | None = None
    cancelled_at: int | None = None


class BatchCreate(msgspec.Struct):
    input_file_id: str
    endpoint: str
    completion_window: str = "24h"
    metadata: dict[str, str] | None = None


@dataclass
class _Job:
    batch: Batch
    lines: list[dict[str, Any]]
    due: float
    origin: str
    auth: str
    lock: anyio.Lock = field(default_factory=anyio.Lock)


class BatchBook:
    """Every batch of the simulator, newest last."""

    def __init__(self) -> None:
        self.jobs: dict[str, _Job] = {}


SIM_BATCHES = web.AppKey("sim_batches", BatchBook)


def _parse_lines(content: bytes, endpoint: str) -> tuple[list[dict[str, Any]], list[str]]:
    # The lines, or the reasons the input is refused (OpenAI fails the whole batch).
    lines: list[dict[str, Any]] = []
    problems: list[str] = []
    seen: set[str] = set()
    for number, raw in enumerate(content.splitlines(), start=1):
        if not raw.strip():
            continue
        try:
            line = _decoder.decode(raw)
        except msgspec.DecodeError:
            problems.append(f"line {number}: not valid JSON")
            continue
        if not isinstance(line, dict) or not isinstance(line.get("custom_id"), str):
            problems.append(f"line {number}: custom_id is required")
        elif line["custom_id"] in seen:
            problems.append(f"line {number}: duplicate custom_id {line['custom_id']!r}")
        elif line.get("url") != endpoint or not isinstance(line.get("body"), dict):
            problems.append(f"line {number}: url must be {endpoint} and body an object")
        else:
            seen.add(line["custom_id"])
            lines.append(line)
    if not lines and not problems:
        problems.append("the input file has no requests")
    return lines, problems


async def create_batch(request: web.Request) -> web.Response:
    """POST /v1/batches."""
    state = request.app[SIM_STATE]
    state.count_request("batches")
    refused = unauthorized(request)
    if refused is not None:
        return refused
    try:
        body = msgspec.json.decode(await request.read(), type=BatchCreate)
    except msgspec.DecodeError as exc:
        return openai_error(400, f"invalid batch request: {exc}")
    if body.endpoint not in ENDPOINTS:
        return openai_error(400, f"endpoint must be one of {', '.join(ENDPOINTS)}")
    files: FileStore = request.app[SIM_FILES]
    content = files.content(body.input_file_id)
    if content is None:
        return openai_error(400, f"input file {body.input_file_id} not found")
    now = int(time.time())
    lines, problems = _parse_lines(content, body.endpoint)
    batch = Batch(
        id=f"batch_sim{uuid.uuid4().hex[:24]}",
        endpoint=body.endpoint,
        input_file_id=body.input_file_id,
        completion_window=body.completion_window,
        status="in_progress",
        created_at=now,
        in_progress_at=now,
        expires_at=now + 24 * 3600,
        request_counts=RequestCounts(total=len(lines)),
        metadata=body.metadata,
    )
    if problems:
        batch.status, batch.failed_at, batch.in_progress_at = "failed", now, None
        data = [{"code": "invalid_request", "message": p} for p in problems]
        batch.errors = {"object": "list", "data": data}
    due = time.monotonic() + state.config.batch_delay_s
    origin = str(request.url.origin())
    auth = request.headers.get("Authorization", "")
    request.app[SIM_BATCHES].jobs[batch.id] = _Job(batch, lines, due, origin, auth)
    return json_response(batch)


async def _answer(
    session: aiohttp.ClientSession, job: _Job, line: dict[str, Any], marker: str
) -> tuple[bool, dict[str, Any]]:
    # (succeeded, the result line) for one input line.
    custom_id = line["custom_id"]
    request_id = f"req_sim{uuid.uuid4().hex[:20]}"
    if marker and marker in custom_id:
        status, body = 500, {"error": {"message": "simulated line failure", "type": "server_error"}}
    else:
        async with session.post(
            job.origin + job.batch.endpoint,
            data=_encoder.encode(line["body"]),
            headers={"Authorization": job.auth, "Content-Type": "application/json"},
        ) as response:
            status, body = response.status, _decoder.decode(await response.read())
    result = {
        "id": f"batch_req_{uuid.uuid4().hex[:24]}",
        "custom_id": custom_id,
        "response": {"status_code": status, "request_id": request_id, "body": body},
        "error": None,
    }
    return status == 200, result


async def _process(app: web.Application, job: _Job) -> None:
    marker = app[SIM_STATE].config.batch_fail_marker
    results: list[tuple[bool, dict[str, Any]]] = []
    limiter = anyio.CapacityLimiter(_LINE_CONCURRENCY)

    async def one(line: dict[str, Any]) -> None:
        async with limiter:
            results.append(await _answer(session, job, line, marker))

    async with aiohttp.ClientSession() as session, anyio.create_task_group() as group:
        for line in job.lines:
            group.start_soon(one, line)
    order = {line["custom_id"]: index for index, line in enumerate(job.lines)}
    results.sort(key=lambda item: order[item[1]["custom_id"]])
    batch, files = job.batch, app[SIM_FILES]
    good = [result for ok, result in results if ok]
    bad = [result for ok, result in results if not ok]
    batch.request_counts = RequestCounts(len(job.lines), len(good), len(bad))
    if good:
        batch.output_file_id = files.add(
            _jsonl(good), filename=f"{batch.id}_output.jsonl", purpose="batch_output"
        ).id
    if bad:
        batch.error_file_id = files.add(
            _jsonl(bad), filename=f"{batch.id}_error.jsonl", purpose="batch_output"
        ).id
    now = int(time.time())
    batch.status, batch.finalizing_at, batch.completed_at = "completed", now, now


def _jsonl(lines: list[dict[str, Any]]) -> bytes:
    return b"".join(_encoder.encode(line) + b"\n" for line in lines)


async def _advance(app: web.Application, job: _Job) -> Batch:
    # Work the batch through once it is due; a cancelled one ends without its lines.
    async with job.lock:
        batch = job.batch
        if batch.status == "cancelling":
            batch.status, batch.cancelled_at = "cancelled", int(time.time())
        elif batch.status == "in_progress" and time.monotonic() >= job.due:
            await _process(app, job)
    return job.batch


async def retrieve_batch(request: web.Request) -> web.Response:
    """GET /v1/batches/{batch_id}."""
    job = request.app[SIM_BATCHES].jobs.get(request.match_info["batch_id"])
    if job is None:
        return openai_error(404, "No such Batch object")
    return json_response(await _advance(request.app, job))


async def cancel_batch(request: web.Request) -> web.Response:
    """POST /v1/batches/{batch_id}/cancel: ``cancelling``, then ``cancelled``."""
    request.app[SIM_STATE].count_request("batches.cancel")
    job = request.app[SIM_BATCHES].jobs.get(request.match_info["batch_id"])
    if job is None:
        return openai_error(404, "No such Batch object")
    async with job.lock:
        batch = job.batch
        if batch.status in _TERMINAL:
            return openai_error(409, f"cannot cancel a batch that is {batch.status}")
        batch.status, batch.cancelling_at = "cancelling", int(time.time())
    return json_response(batch)


async def list_batches(request: web.Request) -> web.Response:
    """GET /v1/batches?limit=&after=: newest first, cursor paginated."""
    try:
        limit = max(1, min(int(request.query.get("limit", "20")), 100))
    except ValueError:
        return openai_error(400, "limit must be an integer")
    jobs = list(reversed(request.app[SIM_BATCHES].jobs.values()))
    after = request.query.get("after")
    if after is not None:
        ids = [job.batch.id for job in jobs]
        jobs = jobs[ids.index(after) + 1 :] if after in ids else []
    page = [await _advance(request.app, job) for job in jobs[:limit]]
    return json_response(
        {
            "object": "list",
            "data": page,
            "first_id": page[0].id if page else None,
            "last_id": page[-1].id if page else None,
            "has_more": len(jobs) > limit,
        }
    )


def add_batch_routes(app: web.Application) -> None:
    """Register the ``/v1/batches`` endpoints and their book on ``app``."""
    app[SIM_BATCHES] = BatchBook()
    app.router.add_post("/v1/batches", create_batch)
    app.router.add_get("/v1/batches", list_batches)
    app.router.add_get("/v1/batches/{batch_id}", retrieve_batch)
    app.router.add_post("/v1/batches/{batch_id}/cancel", cancel_batch)
