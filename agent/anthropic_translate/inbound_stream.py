"""OpenAI ``chat.completion.chunk`` stream → Anthropic Messages event sequence.

For a caller streaming the Messages API whose answer comes from an OpenAI-compatible model
(or is a cache entry replayed as a stream): ``message_start``, ``ping``, then per content
block ``content_block_start`` / ``content_block_delta`` (``text_delta``,
``input_json_delta``) / ``content_block_stop``, and, once the whole answer and its usage
are known, ``message_delta`` (stop reason, usage) and ``message_stop``.
"""

from __future__ import annotations

from typing import Any

from agent.anthropic_translate.inbound_response import openai_usage_to_anthropic, stop_reason

Event = tuple[str, dict[str, Any]]
"""One SSE event: its name and its data object (whose ``type`` is the name)."""


class EventTranslator:
    """Turns the OpenAI chunks of one answer into Anthropic events (choice 0 only)."""

    def __init__(self, *, message_id: str, model: str) -> None:
        self._id = message_id
        self._model = model
        self._started = False
        self._finished = False
        self._index = -1  # the open content block's index, -1 before the first
        self._open: str | None = None  # "text" or f"tool:{openai index}"
        self._finish: str | None = None
        self._usage: dict[str, Any] | None = None

    def feed(self, chunk: dict[str, Any]) -> list[Event]:
        """The events for one chunk, possibly none."""
        out = self._start()
        usage = chunk.get("usage")
        if isinstance(usage, dict):
            self._usage = usage
        for choice in chunk.get("choices") or ():
            if choice.get("index", 0) != 0:
                continue
            delta = choice.get("delta") or {}
            text = delta.get("content")
            if isinstance(text, str) and text:
                out += self._open_block("text", {"type": "text", "text": ""})
                out.append(self._delta({"type": "text_delta", "text": text}))
            for call in delta.get("tool_calls") or ():
                out += self._tool_call(call)
            if choice.get("finish_reason"):
                self._finish = choice["finish_reason"]
        return out

    def finish(self) -> list[Event]:
        """The closing events: the open block's stop, ``message_delta``, ``message_stop``."""
        if self._finished:
            return []
        self._finished = True
        out = self._start() + self._close()
        delta = {"stop_reason": stop_reason(self._finish) or "end_turn", "stop_sequence": None}
        usage = openai_usage_to_anthropic(self._usage)
        out.append(("message_delta", {"type": "message_delta", "delta": delta, "usage": usage}))
        out.append(("message_stop", {"type": "message_stop"}))
        return out

    def _start(self) -> list[Event]:
        if self._started:
            return []
        self._started = True
        message: dict[str, Any] = {
            "id": self._id,
            "type": "message",
            "role": "assistant",
            "model": self._model,
            "content": [],
            "stop_reason": None,
            "stop_sequence": None,
            "usage": {"input_tokens": 0, "output_tokens": 0},
        }
        return [
            ("message_start", {"type": "message_start", "message": message}),
            ("ping", {"type": "ping"}),
        ]

    def _tool_call(self, call: dict[str, Any]) -> list[Event]:
        function = call.get("function") or {}
        key = f"tool:{call.get('index', 0)}"
        out: list[Event] = []
        if self._open != key:
            block = {"type": "tool_use", "id": call.get("id"), "name": function.get("name")}
            out += self._open_block(key, {**block, "input": {}})
        arguments = function.get("arguments")
        if isinstance(arguments, str) and arguments:
            out.append(self._delta({"type": "input_json_delta", "partial_json": arguments}))
        return out

    def _open_block(self, key: str, block: dict[str, Any]) -> list[Event]:
        if self._open == key:
            return []
        out = self._close()
        self._index += 1
        self._open = key
        start = {"type": "content_block_start", "index": self._index, "content_block": block}
        out.append(("content_block_start", start))
        return out

    def _close(self) -> list[Event]:
        if self._open is None:
            return []
        self._open = None
        return [("content_block_stop", {"type": "content_block_stop", "index": self._index})]

    def _delta(self, delta: dict[str, Any]) -> Event:
        return (
            "content_block_delta",
            {"type": "content_block_delta", "index": self._index, "delta": delta},
        )
