"""Anthropic's Message Batches (``/v1/messages/batches``) over the simulator's own answering.

Like `simulator.batches`: a batch is worked through when it is next looked at once
``batch_delay_s`` has passed, each request posted to the simulator's own ``/v1/messages``
over loopback HTTP; a request whose ``custom_id`` (or ``metadata.user_id``, for callers that
number their requests) contains ``batch_fail_marker`` is ``errored``. Results are JSONL at
``results_url``.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import aiohttp
import anyio
import msgspec
from aiohttp import web

from simulator.errors import error_response
from simulator.files import json_response
from simulator.state import SIM_STATE

_LINE_CONCURRENCY = 16
_encoder = msgspec.json.Encoder()
_decoder = msgspec.json.Decoder()


class Counts(msgspec.Struct):
    """Anthropic's ``request_counts``."""

    processing: int = 0
    succeeded: int = 0
    errored: int = 0
    canceled: int = 0
    expired: int = 0


class MessageBatch(msgspec.Struct):
    """Anthropic's message batch object."""

    id: str
    processing_status: str
    request_counts: Counts
    created_at: str
    expires_at: str
    type: str = "message_batch"
    ended_at: str | None = None
    archived_at: str | None = None
    cancel_initiated_at: str | None = None
    results_url: str | None = None


@dataclass
class _Job:
    batch: MessageBatch
    requests: list[dict[str, Any]]
    due: float
    origin: str
    headers: dict[str, str]
    results: bytes = b""
    lock: anyio.Lock = field(default_factory=anyio.Lock)


SIM_MESSAGE_BATCHES = web.AppKey("sim_message_batches", dict[str, _Job])


def _stamp(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).isoformat().replace("+00:00", "Z")


def _bad(message: str) -> web.Response:
    return error_response("anthropic", "bad_request", message)


def _not_found() -> web.Response:
    body = {"type": "error", "error": {"type": "not_found_error", "message": "batch not found"}}
    return json_response(body, 404)


async def create(request: web.Request) -> web.Response:
    """POST /v1/messages/batches: ``{"requests": [{"custom_id", "params"}, ...]}``."""
    state = request.app[SIM_STATE]
    state.count_request("messages.batches")
    try:
        body = _decoder.decode(await request.read())
    except msgspec.DecodeError:
        return _bad("the body is not valid JSON")
    requests = body.get("requests") if isinstance(body, dict) else None
    if not isinstance(requests, list) or not requests:
        return _bad("requests: must be a non-empty list")
    ids = [r.get("custom_id") if isinstance(r, dict) else None for r in requests]
    if any(not isinstance(i, str) or not i for i in ids) or len(set(ids)) != len(ids):
        return _bad("every request needs a unique custom_id")
    if any(not isinstance(r.get("params"), dict) for r in requests):
        return _bad("every request needs params")
    now = time.time()
    batch = MessageBatch(
        id=f"msgbatch_sim{uuid.uuid4().hex[:20]}",
        processing_status="in_progress",
        request_counts=Counts(processing=len(requests)),
        created_at=_stamp(now),
        expires_at=_stamp(now + 86_400),
    )
    headers = {
        name: request.headers[name]
        for name in ("x-api-key", "anthropic-version", "Authorization")
        if name in request.headers
    }
    job = _Job(batch, requests, time.monotonic() + state.config.batch_delay_s, "", headers)
    job.origin = str(request.url.origin())
    request.app[SIM_MESSAGE_BATCHES][batch.id] = job
    return json_response(batch)


async def _answer(
    session: aiohttp.ClientSession, job: _Job, item: dict[str, Any], marker: str
) -> dict[str, Any]:
    custom_id = item["custom_id"]
    user = str((item["params"].get("metadata") or {}).get("user_id") or "")
    if marker and (marker in custom_id or marker in user):
        error = {"type": "api_error", "message": "simulated request failure"}
        return {"custom_id": custom_id, "result": {"type": "errored", "error": error}}
    params = {**item["params"], "stream": False}
    headers = {**job.headers, "content-type": "application/json"}
    async with session.post(
        f"{job.origin}/v1/messages", data=_encoder.encode(params), headers=headers
    ) as response:
        answer = _decoder.decode(await response.read())
    if response.status == 200:
        return {"custom_id": custom_id, "result": {"type": "succeeded", "message": answer}}
    refusal = answer.get("error") if isinstance(answer, dict) else None
    return {"custom_id": custom_id, "result": {"type": "errored", "error": refusal}}


async def _process(app: web.Application, job: _Job) -> None:
    marker = app[SIM_STATE].config.batch_fail_marker
    results: list[dict[str, Any]] = []
    limiter = anyio.CapacityLimiter(_LINE_CONCURRENCY)

    async def one(item: dict[str, Any]) -> None:
        async with limiter:
            results.append(await _answer(session, job, item, marker))

    async with aiohttp.ClientSession() as session, anyio.create_task_group() as group:
        for item in job.requests:
            group.start_soon(one, item)
    _end(job, results)


def _end(job: _Job, results: list[dict[str, Any]]) -> None:
    answered = {r["custom_id"] for r in results}
    for item in job.requests:
        if item["custom_id"] not in answered:
            results.append({"custom_id": item["custom_id"], "result": {"type": "canceled"}})
    kinds = [r["result"]["type"] for r in results]
    batch = job.batch
    batch.request_counts = Counts(
        succeeded=kinds.count("succeeded"),
        errored=kinds.count("errored"),
        canceled=kinds.count("canceled"),
    )
    job.results = b"".join(_encoder.encode(r) + b"\n" for r in results)
    batch.processing_status, batch.ended_at = "ended", _stamp(time.time())
    batch.results_url = f"{job.origin}/v1/messages/batches/{batch.id}/results"


async def _advance(app: web.Application, job: _Job) -> MessageBatch:
    async with job.lock:
        if job.batch.processing_status == "canceling":
            _end(job, [])
        elif job.batch.processing_status == "in_progress" and time.monotonic() >= job.due:
            await _process(app, job)
    return job.batch


async def retrieve(request: web.Request) -> web.Response:
    """GET /v1/messages/batches/{batch_id}."""
    job = request.app[SIM_MESSAGE_BATCHES].get(request.match_info["batch_id"])
    return _not_found() if job is None else json_response(await _advance(request.app, job))


async def cancel(request: web.Request) -> web.Response:
    """POST /v1/messages/batches/{batch_id}/cancel: ``canceling``, then ``ended``."""
    request.app[SIM_STATE].count_request("messages.batches.cancel")
    job = request.app[SIM_MESSAGE_BATCHES].get(request.match_info["batch_id"])
    if job is None:
        return _not_found()
    async with job.lock:
        if job.batch.processing_status == "in_progress":
            job.batch.processing_status = "canceling"
            job.batch.cancel_initiated_at = _stamp(time.time())
    return json_response(job.batch)


async def results(request: web.Request) -> web.Response:
    """GET /v1/messages/batches/{batch_id}/results: JSONL once the batch has ended."""
    job = request.app[SIM_MESSAGE_BATCHES].get(request.match_info["batch_id"])
    if job is None:
        return _not_found()
    if (await _advance(request.app, job)).processing_status != "ended":
        return _bad("the batch has not ended yet")
    return web.Response(body=job.results, content_type="application/binary")


async def list_batches(request: web.Request) -> web.Response:
    """GET /v1/messages/batches: newest first (``limit``, ``after_id``)."""
    jobs = list(reversed(request.app[SIM_MESSAGE_BATCHES].values()))
    after = request.query.get("after_id")
    ids = [job.batch.id for job in jobs]
    if after in ids:
        jobs = jobs[ids.index(after) + 1 :]
    try:
        limit = max(1, min(int(request.query.get("limit", "20")), 1000))
    except ValueError:
        return _bad("limit must be an integer")
    page = [await _advance(request.app, job) for job in jobs[:limit]]
    return json_response(
        {
            "data": page,
            "has_more": len(jobs) > limit,
            "first_id": page[0].id if page else None,
            "last_id": page[-1].id if page else None,
        }
    )


def add_message_batch_routes(app: web.Application) -> None:
    """Register ``/v1/messages/batches`` and its book on ``app``."""
    app[SIM_MESSAGE_BATCHES] = {}
    app.router.add_post("/v1/messages/batches", create)
    app.router.add_get("/v1/messages/batches", list_batches)
    app.router.add_get("/v1/messages/batches/{batch_id}", retrieve)
    app.router.add_post("/v1/messages/batches/{batch_id}/cancel", cancel)
    app.router.add_get("/v1/messages/batches/{batch_id}/results", results)
