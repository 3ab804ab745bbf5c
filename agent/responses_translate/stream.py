"""Chat completion chunks as OpenAI Responses stream events.

`ResponseEvents` is fed the chunks the core yields and returns the events to send, each with
its ``sequence_number``: ``response.created`` and ``response.in_progress`` first, then for
each output item ``response.output_item.added``, its parts and deltas
(``response.content_part.added``, ``response.output_text.delta`` …
``response.output_text.done``, ``response.content_part.done``, or
``response.function_call_arguments.delta`` … ``.done``) and ``response.output_item.done``,
and at the end ``response.completed`` (or ``response.incomplete``) with usage, or ``error``
and ``response.failed``. The final Response is built from the items as streamed, so their ids
match the ones the events announced. No I/O happens here.
"""

from __future__ import annotations

import copy
from typing import Any

from agent.responses_translate.items import new_item_id
from agent.responses_translate.response import (
    ResponseContext,
    function_call_item,
    logprobs_of,
    message_item,
    response_object,
    status_of,
    text_part,
    usage_of,
)

Event = dict[str, Any]


class ResponseEvents:
    """The event sequence of one streamed response; see the module docstring."""

    def __init__(self, context: ResponseContext, model: str) -> None:
        self._context = context
        self._model = model
        self._sequence = 0
        self._items: list[dict[str, Any]] = []
        self._message: int | None = None  # output index of the open message item
        self._part: dict[str, Any] | None = None  # its open content part
        self._call: int | None = None  # output index of the open function call
        self._calls: dict[int, int] = {}  # chat tool-call index → output index
        self._finish_reason: str | None = None
        self._usage: dict[str, Any] | None = None

    def start(self) -> list[Event]:
        """``response.created`` and ``response.in_progress``."""
        response = self._response("in_progress", output=[])
        return [
            self._event("response.created", response=response),
            self._event("response.in_progress", response=response),
        ]

    def chunk(self, chunk: dict[str, Any]) -> list[Event]:
        """The events for one ``chat.completion.chunk``."""
        out: list[Event] = []
        if chunk.get("model"):
            self._model = str(chunk["model"])
        if isinstance(chunk.get("usage"), dict):
            self._usage = usage_of(chunk["usage"])
        for choice in chunk.get("choices") or ():
            if choice.get("index", 0) != 0:
                continue  # a Response has one answer
            delta = choice.get("delta") or {}
            if delta.get("content"):
                out += self._text("output_text", delta["content"], logprobs_of(choice))
            if delta.get("refusal"):
                out += self._text("refusal", delta["refusal"])
            for call in delta.get("tool_calls") or ():
                out += self._tool_call(call)
            if choice.get("finish_reason"):
                self._finish_reason = choice["finish_reason"]
        return out

    def finish(self, completion: dict[str, Any] | None) -> tuple[list[Event], dict[str, Any]]:
        """Close every open item; the final events and the whole Response."""
        if completion is not None:
            self._model = str(completion.get("model") or self._model)
            self._usage = usage_of(completion.get("usage")) or self._usage
            if self._finish_reason is None:
                choices = completion.get("choices") or [{}]
                self._finish_reason = choices[0].get("finish_reason")
        status, incomplete = status_of(self._finish_reason)
        out: list[Event] = []
        if not self._items:
            out += self._text("output_text", "")
        out += self._close_message(status)
        out += self._close_call()
        response = self._response(status, incomplete_details=incomplete)
        kind = "response.completed" if status == "completed" else "response.incomplete"
        out.append(self._event(kind, response=response))
        return out, response

    def fail(self, error: dict[str, Any]) -> list[Event]:
        """``error`` and ``response.failed`` for a stream that broke; ``error`` holds
        ``code`` and ``message``."""
        response = self._response("failed", error=error)
        return [
            self._event("error", code=error.get("code"), message=error.get("message"), param=None),
            self._event("response.failed", response=response),
        ]

    def _text(self, kind: str, text: str, logprobs: list[Any] | None = None) -> list[Event]:
        out = self._close_call()
        if self._message is None:
            self._message = len(self._items)
            self._items.append(message_item(new_item_id("msg"), [], "in_progress"))
            out.append(self._item_event("response.output_item.added", self._message))
        item = self._items[self._message]
        if self._part is None or self._part["type"] != kind:
            out += self._close_part()
            self._part = text_part("") if kind == "output_text" else {"type": kind, kind: ""}
            item["content"].append(self._part)
            out.append(self._part_event("response.content_part.added"))
        field = "text" if kind == "output_text" else "refusal"
        if text:
            self._part[field] += text
            extra: dict[str, Any] = {}
            if kind == "output_text":
                extra["logprobs"] = logprobs or []
                self._part["logprobs"] += extra["logprobs"]
            out.append(self._part_event(f"response.{kind}.delta", delta=text, **extra))
        return out

    def _tool_call(self, call: dict[str, Any]) -> list[Event]:
        out: list[Event] = []
        index = int(call.get("index", 0))
        function = call.get("function") or {}
        if index not in self._calls:
            out += self._close_message("completed")
            out += self._close_call()
            self._call = self._calls[index] = len(self._items)
            call_id = call.get("id") or new_item_id("call")
            name = function.get("name") or ""
            self._items.append(
                function_call_item(new_item_id("fc"), call_id, name, "", "in_progress")
            )
            out.append(self._item_event("response.output_item.added", self._call))
        position = self._calls[index]
        item = self._items[position]
        if function.get("arguments"):
            item["arguments"] += function["arguments"]
            out.append(
                self._event(
                    "response.function_call_arguments.delta",
                    item_id=item["id"],
                    output_index=position,
                    delta=function["arguments"],
                )
            )
        return out

    def _close_part(self) -> list[Event]:
        if self._part is None:
            return []
        kind = self._part["type"]
        field = "text" if kind == "output_text" else "refusal"
        extra: dict[str, Any] = (
            {"logprobs": self._part["logprobs"]} if kind == "output_text" else {}
        )
        out = [
            self._part_event(f"response.{kind}.done", **{field: self._part[field]}, **extra),
            self._part_event("response.content_part.done"),
        ]
        self._part = None
        return out

    def _close_message(self, status: str) -> list[Event]:
        if self._message is None:
            return []
        out = self._close_part()
        self._items[self._message]["status"] = status
        out.append(self._item_event("response.output_item.done", self._message))
        self._message = None
        return out

    def _close_call(self) -> list[Event]:
        if self._call is None:
            return []
        item = self._items[self._call]
        item["status"] = "completed"
        out = [
            self._event(
                "response.function_call_arguments.done",
                item_id=item["id"],
                output_index=self._call,
                name=item["name"],
                arguments=item["arguments"],
            ),
            self._item_event("response.output_item.done", self._call),
        ]
        self._call = None
        return out

    def _part_event(self, kind: str, **fields: Any) -> Event:
        assert self._message is not None and self._part is not None
        item = self._items[self._message]
        content_index = len(item["content"]) - 1
        if kind.startswith("response.content_part."):
            fields["part"] = copy.deepcopy(self._part)
        return self._event(
            kind,
            item_id=item["id"],
            output_index=self._message,
            content_index=content_index,
            **fields,
        )

    def _item_event(self, kind: str, position: int) -> Event:
        return self._event(kind, output_index=position, item=copy.deepcopy(self._items[position]))

    def _event(self, kind: str, **fields: Any) -> Event:
        event = {"type": kind, "sequence_number": self._sequence, **fields}
        self._sequence += 1
        return event

    def _response(
        self,
        status: str,
        *,
        output: list[dict[str, Any]] | None = None,
        incomplete_details: dict[str, Any] | None = None,
        error: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        return response_object(
            self._context,
            model=self._model,
            output=copy.deepcopy(self._items) if output is None else output,
            status=status,
            incomplete_details=incomplete_details,
            usage=self._usage if status != "in_progress" else None,
            error=error,
        )
