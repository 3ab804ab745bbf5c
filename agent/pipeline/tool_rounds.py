"""One tool round of the model-driven loop: reading the model's calls from its stream,
running them (cached results first), and writing the results back into the conversation."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

import msgspec

from agent.pipeline.profile import AgentProfile
from agent.tools.base import ToolCall, ToolRegistry, ToolResult
from agent.tools.fanout import run_tools_concurrently
from agent.types import Message

_MAX_RESULT_CHARS = 8000
_audit = logging.getLogger("frugal.audit.tools")


class ToolCallCollector:
    """Assembles the tool calls of one streamed answer from its OpenAI-shaped chunks
    (``choices[0].delta.tool_calls``, arguments arriving in pieces per ``index``)."""

    def __init__(self) -> None:
        self._calls: dict[int, dict[str, str]] = {}
        self.text = ""

    def see(self, payload: dict[str, Any] | None) -> None:
        """Take note of one chunk (None: a chunk with no wire payload)."""
        choices = payload.get("choices") if payload else None
        if not isinstance(choices, list) or not choices or not isinstance(choices[0], dict):
            return
        delta = choices[0].get("delta") or choices[0].get("message") or {}
        if isinstance(delta.get("content"), str):
            self.text += delta["content"]
        for part in delta.get("tool_calls") or []:
            if not isinstance(part, dict):
                continue
            slot = self._calls.setdefault(int(part.get("index", 0)), {"name": "", "args": ""})
            if part.get("id"):
                slot["id"] = str(part["id"])
            function = part.get("function") or {}
            slot["name"] += function.get("name") or ""
            slot["args"] += function.get("arguments") or ""

    def calls(self, request_id: str, round_no: int) -> list[ToolCall]:
        """The calls asked for, in index order; arguments that are not a JSON object are
        passed on as ``{"_unparsed": text}`` so the tool's schema check refuses them."""
        out = []
        for index in sorted(self._calls):
            slot = self._calls[index]
            try:
                args = msgspec.json.decode(slot["args"] or "{}")
            except msgspec.DecodeError:
                args = {"_unparsed": slot["args"]}
            if not isinstance(args, dict):
                args = {"_unparsed": slot["args"]}
            call_id = slot.get("id") or f"call_{request_id[:8]}_{round_no}_{index}"
            out.append(ToolCall(slot["name"], args, call_id))
        return out


async def run_round(
    tools: ToolRegistry, calls: Sequence[ToolCall], user: str | None, profile: AgentProfile
) -> list[ToolResult]:
    """Results of ``calls`` in call order: cached ones reused, the rest run concurrently
    for ``user`` (the verified user, or None) under the agent's timeout cap."""
    calls = [msgspec.structs.replace(call, user_id=user) for call in calls]
    cache = profile.tool_cache
    found: list[ToolResult | None] = [None] * len(calls)
    if cache is not None:
        for index, call in enumerate(calls):
            found[index] = await cache.get(call, user)
    missing = [index for index, hit in enumerate(found) if hit is None]
    ran = await run_tools_concurrently(
        tools, [calls[i] for i in missing], timeout_cap_s=profile.tool_timeout_s
    )
    for index, result in zip(missing, ran, strict=True):
        found[index] = result
        if cache is not None and result.ok:
            await cache.put(calls[index], user, result)
    done = [result for result in found if result is not None]
    for call, result in zip(calls, done, strict=True):
        # One audit line per call: who, which tool, outcome; argument names, never values.
        _audit.info(
            "agent=%s tool=%s call=%s user=%s args=%s ok=%s cached=%s ms=%.0f error=%s",
            profile.name,
            call.name,
            call.call_id,
            user or "-",
            ",".join(sorted(call.args)),
            result.ok,
            result.cached,
            result.elapsed_ms,
            result.error or "-",
        )
    return done


def tool_messages(
    messages: list[dict[str, Any]],
    plain: list[Message],
    calls: Sequence[ToolCall],
    results: Sequence[ToolResult],
    text: str,
) -> None:
    """Append the assistant's tool calls and one ``tool`` message per result (errors as
    ``error: ...`` so the model says the data is unavailable instead of guessing)."""
    messages.append(
        {
            "role": "assistant",
            "content": text or None,
            "tool_calls": [
                {
                    "id": call.call_id,
                    "type": "function",
                    "function": {
                        "name": call.name,
                        "arguments": msgspec.json.encode(call.args).decode(),
                    },
                }
                for call in calls
            ],
        }
    )
    for call, result in zip(calls, results, strict=True):
        content = result_text(result)
        messages.append({"role": "tool", "tool_call_id": call.call_id, "content": content})
        plain.append(Message("tool", f"{call.name}: {content}"))


def result_text(result: ToolResult) -> str:
    """What the model reads of one result."""
    if result.ok and result.output is not None:
        return result.output.content[:_MAX_RESULT_CHARS]
    return f"error: {result.error}"
