"""Between a stream and a whole answer: `CompletionAssembler` folds ``chat.completion.chunk``
objects into the ``chat.completion`` they describe (so a streamed answer can be cached and
billed), and `replay_chunks` turns a stored completion back into chunks (so a cached answer
can be streamed). Both keep every field the wire defines: content, refusal, tool calls by
index, logprobs, finish reasons, usage, ``system_fingerprint``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Final

from agent.core.replay import replay_pieces

TEXT_ONLY_FINGERPRINT: Final = "frugal"
"""``system_fingerprint`` of answers from clients that report only text (the simulated one)."""


@dataclass(slots=True)
class _ToolCall:
    id: str | None = None
    type: str = "function"
    name: str = ""
    arguments: list[str] = field(default_factory=list)


@dataclass(slots=True)
class _Choice:
    role: str = "assistant"
    content: list[str] | None = None
    refusal: list[str] | None = None
    tool_calls: dict[int, _ToolCall] = field(default_factory=dict)
    logprobs: dict[str, list[Any]] | None = None
    finish_reason: str | None = None


class CompletionAssembler:
    """Accumulates the chunks of one stream; `completion` gives the whole answer."""

    def __init__(self) -> None:
        self._choices: dict[int, _Choice] = {}
        self._top: dict[str, Any] = {}
        self.usage: dict[str, Any] | None = None

    def add(self, chunk: dict[str, Any]) -> None:
        """Fold one decoded chunk in (chunks without choices may still carry usage)."""
        for key in ("id", "created", "model", "system_fingerprint", "service_tier"):
            if chunk.get(key) is not None:
                self._top[key] = chunk[key]
        usage = chunk.get("usage")
        if isinstance(usage, dict):
            self.usage = usage
        for choice in chunk.get("choices") or ():
            if isinstance(choice, dict):
                self._add_choice(choice)

    def _add_choice(self, choice: dict[str, Any]) -> None:
        index = choice.get("index", 0)
        state = self._choices.setdefault(index if isinstance(index, int) else 0, _Choice())
        delta = choice.get("delta") or {}
        if isinstance(delta.get("role"), str):
            state.role = delta["role"]
        if isinstance(delta.get("content"), str):
            state.content = (state.content or []) + [delta["content"]]
        if isinstance(delta.get("refusal"), str):
            state.refusal = (state.refusal or []) + [delta["refusal"]]
        for call in delta.get("tool_calls") or ():
            self._add_tool_call(state, call)
        logprobs = choice.get("logprobs")
        if isinstance(logprobs, dict):
            merged = state.logprobs if state.logprobs is not None else {}
            for key, items in logprobs.items():
                if isinstance(items, list):
                    merged.setdefault(key, []).extend(items)
            state.logprobs = merged
        if choice.get("finish_reason"):
            state.finish_reason = choice["finish_reason"]

    @staticmethod
    def _add_tool_call(state: _Choice, call: dict[str, Any]) -> None:
        index = call.get("index", len(state.tool_calls))
        slot = state.tool_calls.setdefault(index, _ToolCall())
        if call.get("id"):
            slot.id = call["id"]
        if call.get("type"):
            slot.type = call["type"]
        function = call.get("function") or {}
        if function.get("name"):
            slot.name += function["name"]
        if isinstance(function.get("arguments"), str):
            slot.arguments.append(function["arguments"])

    @property
    def finish_reasons(self) -> tuple[str | None, ...]:
        """Each choice's finish reason, in index order (None: the choice never finished)."""
        return tuple(self._choices[i].finish_reason for i in sorted(self._choices))

    def completion(self, *, default_model: str, completion_id: str, created: int) -> dict[str, Any]:
        """The ``chat.completion`` object these chunks describe."""
        choices = []
        for index in sorted(self._choices):
            state = self._choices[index]
            message: dict[str, Any] = {
                "role": state.role,
                "content": "".join(state.content) if state.content is not None else None,
                "refusal": "".join(state.refusal) if state.refusal is not None else None,
            }
            if state.tool_calls:
                message["tool_calls"] = [
                    {
                        "id": call.id,
                        "type": call.type,
                        "function": {"name": call.name, "arguments": "".join(call.arguments)},
                    }
                    for _, call in sorted(state.tool_calls.items())
                ]
            choices.append(
                {
                    "index": index,
                    "message": message,
                    "logprobs": state.logprobs,
                    "finish_reason": state.finish_reason,
                }
            )
        out: dict[str, Any] = {
            "id": self._top.get("id", completion_id),
            "object": "chat.completion",
            "created": self._top.get("created", created),
            "model": self._top.get("model", default_model),
            "choices": choices,
        }
        if self.usage is not None:
            out["usage"] = self.usage
        for key in ("system_fingerprint", "service_tier"):
            if key in self._top:
                out[key] = self._top[key]
        return out


def replay_chunks(
    completion: dict[str, Any], *, include_usage: bool, words_per_chunk: int = 4
) -> list[dict[str, Any]]:
    """The chunks a provider would have streamed for ``completion``: a role chunk, content
    a few words at a time, refusal, tool calls (one chunk each, by index), then the finish
    chunk per choice and, with ``include_usage``, the usage chunk."""
    top = {
        "id": completion.get("id"),
        "object": "chat.completion.chunk",
        "created": completion.get("created"),
        "model": completion.get("model"),
        "system_fingerprint": completion.get("system_fingerprint"),
    }
    out: list[dict[str, Any]] = []

    def emit(
        index: int, delta: dict[str, Any], finish: str | None = None, logprobs: Any = None
    ) -> None:
        choice = {"index": index, "delta": delta, "logprobs": logprobs, "finish_reason": finish}
        out.append({**top, "choices": [choice]})

    for choice in completion.get("choices") or ():
        index = choice.get("index", 0)
        message = choice.get("message") or {}
        emit(index, {"role": message.get("role", "assistant"), "content": ""})
        content = message.get("content")
        if isinstance(content, str) and content:
            pieces = replay_pieces(content, words_per_chunk)
            for i, piece in enumerate(pieces):
                # Logprobs ride on the first content chunk whole; the SDKs concatenate them.
                emit(index, {"content": piece}, logprobs=choice.get("logprobs") if i == 0 else None)
        if isinstance(message.get("refusal"), str):
            emit(index, {"refusal": message["refusal"]})
        for position, call in enumerate(message.get("tool_calls") or ()):
            emit(index, {"tool_calls": [{"index": position, **call}]})
        emit(index, {}, finish=choice.get("finish_reason") or "stop")
    if include_usage and completion.get("usage") is not None:
        out.append({**top, "choices": [], "usage": completion["usage"]})
    return out


def completion_from_text(
    text: str,
    *,
    model: str,
    finish_reason: str | None,
    usage: dict[str, Any],
    completion_id: str,
    created: int,
) -> dict[str, Any]:
    """A one-choice ``chat.completion`` for a client that only reports text."""
    return {
        "id": completion_id,
        "object": "chat.completion",
        "created": created,
        "model": model,
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": text, "refusal": None},
                "logprobs": None,
                "finish_reason": finish_reason or "stop",
            }
        ],
        "usage": usage,
        "system_fingerprint": TEXT_ONLY_FINGERPRINT,
    }


def chunk_from_text(
    text: str, *, model: str, finish_reason: str | None, completion_id: str, created: int
) -> dict[str, Any]:
    """A one-choice ``chat.completion.chunk`` for a client that only reports text."""
    delta = {"content": text} if text else {}
    return {
        "id": completion_id,
        "object": "chat.completion.chunk",
        "created": created,
        "model": model,
        "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish_reason}],
        "system_fingerprint": TEXT_ONLY_FINGERPRINT,
    }
