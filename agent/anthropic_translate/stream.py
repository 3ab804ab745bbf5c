"""Anthropic Messages stream events → OpenAI ``chat.completion.chunk`` objects."""

from __future__ import annotations

from typing import Any

from agent.anthropic_translate.errors import StreamError
from agent.anthropic_translate.response import anthropic_usage_to_openai, finish_reason

_USAGE_KEYS = (
    "input_tokens",
    "output_tokens",
    "cache_creation_input_tokens",
    "cache_read_input_tokens",
)


class StreamTranslator:
    """Turns Anthropic stream events (event name + decoded data dict) into OpenAI chunks.

    One translator per stream. Tool calls are numbered 0, 1, ... in the order their tool_use
    blocks start, as OpenAI's ``tool_calls[].index``. Thinking, signature and citation deltas
    and server-tool blocks produce nothing. With ``include_usage`` every chunk carries
    ``"usage": None`` and ``message_stop`` adds a final chunk with no choices and the usage,
    as OpenAI does for ``stream_options.include_usage``.
    """

    def __init__(self, *, completion_id: str, created: int, include_usage: bool) -> None:
        self._id = completion_id
        self._created = created
        self._include_usage = include_usage
        self._model = ""
        self._usage: dict[str, Any] = {}
        # Anthropic content-block index → OpenAI tool_calls index, for client tool_use blocks.
        self._tool_index: dict[int, int] = {}
        self._finished = False

    @property
    def finished(self) -> bool:
        """Whether ``message_stop`` has been seen."""
        return self._finished

    def feed(self, event: str, data: dict[str, Any]) -> list[dict[str, Any]]:
        """The chunks to emit for one event, possibly none.

        Events this module does not know are ignored (Anthropic may add new ones), as is
        anything after ``message_stop``. Raises ``StreamError`` for an ``error`` event.
        """
        if self._finished:
            return []
        match event:
            case "message_start":
                message = data.get("message") or {}
                self._model = message.get("model", "")
                self._record_usage(message.get("usage"))
                return [self._chunk({"role": "assistant", "content": ""})]
            case "content_block_start":
                return self._block_start(data["index"], data.get("content_block") or {})
            case "content_block_delta":
                return self._block_delta(data["index"], data.get("delta") or {})
            case "message_delta":
                self._record_usage(data.get("usage"))
                reason = finish_reason((data.get("delta") or {}).get("stop_reason"))
                return [self._chunk({}, finish=reason or "stop")]
            case "message_stop":
                self._finished = True
                if not self._include_usage:
                    return []
                return [{**self._envelope([]), "usage": anthropic_usage_to_openai(self._usage)}]
            case "error":
                error = data.get("error") or {}
                raise StreamError(error.get("type", "api_error"), error.get("message", ""))
            case _:
                return []

    def _block_start(self, index: int, block: dict[str, Any]) -> list[dict[str, Any]]:
        kind = block.get("type")
        if kind == "text" and block.get("text"):
            return [self._chunk({"content": block["text"]})]
        if kind != "tool_use":
            return []
        tool_index = len(self._tool_index)
        self._tool_index[index] = tool_index
        call = {
            "index": tool_index,
            "id": block["id"],
            "type": "function",
            "function": {"name": block["name"], "arguments": ""},
        }
        return [self._chunk({"tool_calls": [call]})]

    def _block_delta(self, index: int, delta: dict[str, Any]) -> list[dict[str, Any]]:
        kind = delta.get("type")
        if kind == "text_delta":
            return [self._chunk({"content": delta["text"]})]
        if kind == "input_json_delta" and index in self._tool_index:
            call = {
                "index": self._tool_index[index],
                "function": {"arguments": delta["partial_json"]},
            }
            return [self._chunk({"tool_calls": [call]})]
        return []

    def _record_usage(self, usage: dict[str, Any] | None) -> None:
        # message_delta counts are cumulative: a later value replaces an earlier one.
        for key in _USAGE_KEYS:
            value = (usage or {}).get(key)
            if value is not None:
                self._usage[key] = value

    def _chunk(self, delta: dict[str, Any], *, finish: str | None = None) -> dict[str, Any]:
        choice = {"index": 0, "delta": delta, "finish_reason": finish, "logprobs": None}
        chunk = self._envelope([choice])
        if self._include_usage:
            chunk["usage"] = None
        return chunk

    def _envelope(self, choices: list[dict[str, Any]]) -> dict[str, Any]:
        return {
            "id": self._id,
            "object": "chat.completion.chunk",
            "created": self._created,
            "model": self._model,
            "choices": choices,
        }
