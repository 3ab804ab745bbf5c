"""Anthropic's Message Batches shapes over the batch lane: a line of the lane's output or
error file as a line of Anthropic's results JSONL, a lane batch as a ``message_batch``.

The lines themselves are the callers' Messages ``params`` as sent (the lane's ``/v1/messages``
endpoint), answered through the same native or translated path as ``/v1/messages``
(`agent.batch.provider_wire`), so an answered line's body already is a ``message``."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from agent.batch.wire import TERMINAL_BATCH, BatchObject


def result(item: dict[str, Any]) -> dict[str, Any]:
    """One line of Anthropic's results JSONL for one line of the lane's output or error file."""
    response, error = item.get("response"), item.get("error") or {}
    if response is not None and response.get("status_code") == 200:
        outcome: dict[str, Any] = {"type": "succeeded", "message": response["body"]}
    elif error.get("code") in ("batch_cancelled", "batch_expired"):
        outcome = {"type": "canceled" if error["code"] == "batch_cancelled" else "expired"}
    else:
        detail = (response or {}).get("body", {}).get("error") if response else error
        if isinstance(detail, dict) and isinstance(detail.get("error"), dict):
            detail = detail["error"]  # Anthropic's own {"type": "error", "error": {...}}
        message_text = (detail or {}).get("message") or "the request failed"
        refused = error.get("code") in ("invalid_request", "model_not_found")
        kind = (
            "invalid_request_error"
            if refused or (response or {}).get("status_code") in (400, 404)
            else "api_error"
        )
        outcome = {
            "type": "errored",
            "error": {"type": "error", "error": {"type": kind, "message": message_text}},
        }
    return {"custom_id": item["custom_id"], "result": outcome}


def _stamp(epoch: int | None) -> str | None:
    if epoch is None:
        return None
    return datetime.fromtimestamp(epoch, UTC).isoformat().replace("+00:00", "Z")


def message_batch(batch: BatchObject, results_base: str) -> dict[str, Any]:
    """The ``message_batch`` object for a lane batch; ``results_base`` is the URL its
    results are served under (``.../v1/messages/batches``)."""
    counts = batch.request_counts
    ended = batch.status in TERMINAL_BATCH
    rest = counts.total - counts.completed - counts.failed
    ended_at = batch.completed_at or batch.cancelled_at or batch.expired_at or batch.failed_at
    return {
        "id": batch.id,
        "type": "message_batch",
        "processing_status": "ended"
        if ended
        else ("canceling" if batch.status == "cancelling" else "in_progress"),
        "request_counts": {
            "processing": 0 if ended else rest,
            "succeeded": counts.completed,
            "errored": counts.failed,
            "canceled": rest if ended and batch.status == "cancelled" else 0,
            "expired": rest if ended and batch.status != "cancelled" else 0,
        },
        "created_at": _stamp(batch.created_at),
        "expires_at": _stamp(batch.expires_at),
        "ended_at": _stamp(ended_at) if ended else None,
        "cancel_initiated_at": _stamp(batch.cancelling_at),
        "archived_at": None,
        "results_url": f"{results_base}/{batch.id}/results" if ended else None,
    }
