"""Anthropic's Message Batches shapes over the batch lane: a request's Messages ``params`` as
a chat completions line, an answered line as a Messages ``message``, a lane batch as a
``message_batch``. Text conversations only (system, text turns, sampling, stop sequences);
a request using anything else refuses the batch (400), nothing is silently dropped."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime
from typing import Any, Final

from agent.batch.wire import TERMINAL_BATCH, BatchObject

_KNOWN: Final = frozenset(
    {
        "model",
        "max_tokens",
        "messages",
        "system",
        "temperature",
        "top_p",
        "stop_sequences",
        "metadata",
    }
)
_STOP_REASONS: Final = {"stop": "end_turn", "length": "max_tokens", "tool_calls": "tool_use"}


class UnsupportedParams(ValueError):
    """A request uses something the batch lane cannot carry yet; the message names it."""


def _text(content: Any, where: str) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list) and all(
        isinstance(block, dict) and block.get("type") == "text" for block in content
    ):
        return "".join(str(block.get("text", "")) for block in content)
    raise UnsupportedParams(f"{where}: only text content is supported in batch requests")


def chat_body(params: dict[str, Any]) -> dict[str, Any]:
    """The chat completions body for Messages ``params``. Raises `UnsupportedParams`."""
    unknown = sorted(set(params) - _KNOWN)
    if unknown:
        raise UnsupportedParams(f"{unknown[0]} is not supported in batch requests")
    if not isinstance(params.get("model"), str) or not isinstance(params.get("max_tokens"), int):
        raise UnsupportedParams("model and max_tokens are required")
    messages: list[dict[str, Any]] = []
    if params.get("system"):
        messages.append({"role": "system", "content": _text(params["system"], "system")})
    turns = params.get("messages")
    if not isinstance(turns, list) or not turns:
        raise UnsupportedParams("messages must be a non-empty list")
    for index, turn in enumerate(turns):
        if not isinstance(turn, dict) or turn.get("role") not in ("user", "assistant"):
            raise UnsupportedParams(f"messages[{index}].role must be user or assistant")
        content = _text(turn.get("content"), f"messages[{index}].content")
        messages.append({"role": turn["role"], "content": content})
    body: dict[str, Any] = {
        "model": params["model"],
        "max_tokens": params["max_tokens"],
        "messages": messages,
    }
    for name in ("temperature", "top_p"):
        if name in params:
            body[name] = params[name]
    if params.get("stop_sequences"):
        body["stop"] = params["stop_sequences"]
    user = (params.get("metadata") or {}).get("user_id")
    if user:
        body["user"] = user
    return body


def message(completion: dict[str, Any]) -> dict[str, Any]:
    """The Messages ``message`` for a ``chat.completion``."""
    choice = (completion.get("choices") or [{}])[0]
    usage = completion.get("usage") or {}
    text = (choice.get("message") or {}).get("content") or ""
    return {
        "id": f"msg_{secrets.token_hex(12)}",
        "type": "message",
        "role": "assistant",
        "model": completion.get("model", ""),
        "content": [{"type": "text", "text": text}],
        "stop_reason": _STOP_REASONS.get(choice.get("finish_reason") or "stop", "end_turn"),
        "stop_sequence": None,
        "usage": {
            "input_tokens": int(usage.get("prompt_tokens") or 0),
            "output_tokens": int(usage.get("completion_tokens") or 0),
        },
    }


def result(item: dict[str, Any]) -> dict[str, Any]:
    """One line of Anthropic's results JSONL for one line of the lane's output or error file."""
    response, error = item.get("response"), item.get("error") or {}
    if response is not None and response.get("status_code") == 200:
        outcome: dict[str, Any] = {"type": "succeeded", "message": message(response["body"])}
    elif error.get("code") in ("batch_cancelled", "batch_expired"):
        outcome = {"type": "canceled" if error["code"] == "batch_cancelled" else "expired"}
    else:
        detail = (response or {}).get("body", {}).get("error") if response else error
        message_text = (detail or {}).get("message") or "the request failed"
        kind = (
            "invalid_request_error"
            if (response or {}).get("status_code") in (400, 404)
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
