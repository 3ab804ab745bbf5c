"""``POST /v1/responses``: OpenAI's Responses API, whole (a Response object) and streamed
(``response.created`` … ``response.output_text.delta`` … ``response.completed`` with usage).

The request is read as a chat request (`simulator.responses_request`), so the replies, tool
calls (`simulator.tool_calls`) and JSON answers (`simulator.json_schema_instance`) are the
ones chat completions would give; the simulator's faults apply as on chat completions.
"""

from __future__ import annotations

import time
import uuid
from typing import Any

import msgspec
from aiohttp import web

from simulator.admission import admit, cut_connection, malformed_json_response
from simulator.answer import paced
from simulator.errors import error_response
from simulator.limits import refusal
from simulator.openai_answer import conversation, message_segments, shape, tools_offered
from simulator.prompt_cache import prompt_total
from simulator.reply import Reply, plan_replies
from simulator.responses_request import InvalidResponsesRequest, chat_request_of
from simulator.sse import event_block, open_sse, send_pieces
from simulator.state import SIM_STATE
from simulator.tokens import count_text_tokens

_encoder = msgspec.json.Encoder()
_GARBAGE = b'event: response.output_text.delta\ndata: {"type": "response.output_te\n\n'
_ECHOED = ("instructions", "metadata", "temperature", "top_p", "tools", "tool_choice", "text")


async def responses(request: web.Request) -> web.StreamResponse:
    """POST /v1/responses, JSON or SSE."""
    state = request.app[SIM_STATE]
    state.count_request("responses")
    admitted = await admit(request, state, "openai")
    if isinstance(admitted, web.Response):
        return admitted
    try:
        body = msgspec.json.decode(await request.read())
        if not isinstance(body, dict):
            raise InvalidResponsesRequest("the body must be a JSON object")
        chat = chat_request_of(body)
    except (msgspec.DecodeError, InvalidResponsesRequest) as exc:
        return error_response("openai", "bad_request", f"Invalid request body: {exc}")
    segments = message_segments(chat.messages, chat.model)
    total = prompt_total(segments)
    refused = refusal(state, "openai", chat.model, total, chat.messages[-1].role)
    if refused is not None:
        return refused
    if admitted.fault == "disconnect" and not chat.stream:
        return cut_connection(request)
    offers, choice = tools_offered(chat)
    [reply] = plan_replies(
        conversation(chat), offers, choice, shape(chat, admitted.knobs.output_tokens)
    )
    cached = state.prompt_memory.openai_cached_tokens(chat.model, segments)
    state.stats.prompt_tokens += total
    state.stats.cached_prompt_tokens += cached
    output_tokens = reply.completion_tokens(chat.model)
    usage = {
        "input_tokens": total,
        "input_tokens_details": {"cached_tokens": cached},
        "output_tokens": output_tokens,
        "output_tokens_details": {"reasoning_tokens": reply.reasoning_tokens},
        "total_tokens": total + output_tokens,
    }
    writer = _Writer(body, reply, usage)
    if chat.stream:
        return await _stream(request, writer, admitted.fault, admitted.knobs)
    async for _ in paced(list(reply.answer.pieces), admitted.knobs.pace):
        pass  # a JSON answer arrives when the whole stream would have finished
    if admitted.fault == "malformed":
        return malformed_json_response()
    state.stats.completion_tokens += output_tokens
    state.stats.responses_ok += 1
    return web.Response(body=_encoder.encode(writer.response()), content_type="application/json")


class _Writer:
    """One reply as Response output items and as the Responses stream events."""

    def __init__(self, body: dict[str, Any], reply: Reply, usage: dict[str, Any]) -> None:
        self.body, self.reply, self.usage = body, reply, usage
        self.model = str(body.get("model"))
        self.id = f"resp_sim{uuid.uuid4().hex[:24]}"
        self.created = int(time.time())
        self._seq = 0

    def response(self, status: str | None = None) -> dict[str, Any]:
        done = status is None
        length = self.reply.finish_reason == "length"
        out: dict[str, Any] = {
            "id": self.id,
            "object": "response",
            "created_at": self.created,
            "status": status or ("incomplete" if length else "completed"),
            "error": None,
            "incomplete_details": {"reason": "max_output_tokens"} if done and length else None,
            "model": self.model,
            "output": self.items() if done else [],
            "parallel_tool_calls": self.body.get("parallel_tool_calls", True),
            "usage": self.usage if done else None,
        }
        for name in _ECHOED:
            out[name] = self.body.get(name)
        out["tools"] = out["tools"] or []
        out["tool_choice"] = out["tool_choice"] or "auto"
        return out

    def items(self) -> list[dict[str, Any]]:
        if self.reply.calls:
            return [self._call(i, c.arguments) for i, c in enumerate(self.reply.calls)]
        return [self._message(self.reply.answer.text)]

    def _message(self, text: str | None, status: str = "completed") -> dict[str, Any]:
        content = [] if text is None else [_part(text)]
        return {
            "type": "message",
            "id": f"msg_{self.id[5:]}",
            "status": status,
            "role": "assistant",
            "content": content,
        }

    def _call(self, index: int, arguments: str, status: str = "completed") -> dict[str, Any]:
        call = self.reply.calls[index]
        return {
            "type": "function_call",
            "id": f"fc_{self.id[5:]}_{index}",
            "call_id": call.id,
            "name": call.name,
            "arguments": arguments,
            "status": status,
        }

    def event(self, kind: str, **fields: Any) -> bytes:
        data = {"type": kind, "sequence_number": self._seq, **fields}
        self._seq += 1
        return event_block(kind, _encoder.encode(data))

    def opening(self) -> bytes:
        created = self.response("in_progress")
        return self.event("response.created", response=created) + self.event(
            "response.in_progress", response=created
        )

    def units(self) -> list[tuple[bytes, int]]:
        """(frames, tokens) in order; the frames before a delta ride with it."""
        units: list[tuple[bytes, int]] = []
        if self.reply.calls:
            for index, call in enumerate(self.reply.calls):
                item = self._call(index, "", "in_progress")
                lead = self.event("response.output_item.added", output_index=index, item=item)
                pieces = _pieces(call.arguments)
                for position, piece in enumerate(pieces):
                    frame = self.event(
                        "response.function_call_arguments.delta",
                        item_id=item["id"],
                        output_index=index,
                        delta=piece,
                    )
                    units.append(
                        ((lead if position == 0 else b"") + frame, count_text_tokens(piece, "x"))
                    )
                units.append((self._call_done(index), 0))
            return units
        message = self._message(None, "in_progress")
        lead = self.event("response.output_item.added", output_index=0, item=message)
        lead += self.event(
            "response.content_part.added",
            item_id=message["id"],
            output_index=0,
            content_index=0,
            part=_part(""),
        )
        for piece in self.reply.answer.pieces:
            frame = self.event(
                "response.output_text.delta",
                item_id=message["id"],
                output_index=0,
                content_index=0,
                delta=piece,
                logprobs=[],
            )
            units.append((lead + frame, 1))
            lead = b""
        text = self.reply.answer.text
        ids = {"item_id": message["id"], "output_index": 0, "content_index": 0}
        closing = lead + self.event("response.output_text.done", **ids, text=text, logprobs=[])
        closing += self.event("response.content_part.done", **ids, part=_part(text))
        closing += self.event("response.output_item.done", output_index=0, item=self._message(text))
        units.append((closing, 0))
        return units

    def _call_done(self, index: int) -> bytes:
        item = self._call(index, self.reply.calls[index].arguments)
        done = self.event(
            "response.function_call_arguments.done",
            item_id=item["id"],
            output_index=index,
            arguments=item["arguments"],
        )
        return done + self.event("response.output_item.done", output_index=index, item=item)

    def completed(self) -> bytes:
        response = self.response()
        kind = "response.completed" if response["status"] == "completed" else "response.incomplete"
        return self.event(kind, response=response)


def _part(text: str) -> dict[str, Any]:
    return {"type": "output_text", "text": text, "annotations": [], "logprobs": []}


def _pieces(arguments: str) -> list[str]:
    size = max(1, len(arguments) // 3)
    return [arguments[i : i + size] for i in range(0, len(arguments), size)] or [""]


async def _stream(
    request: web.Request, writer: _Writer, fault: str | None, knobs: Any
) -> web.StreamResponse:
    state = request.app[SIM_STATE]
    opening = writer.opening()  # first: events are numbered as they are made
    units = writer.units()
    planned = sum(tokens for _, tokens in units)
    response = await open_sse(request)
    try:
        with state.track_stream("responses", writer.model, planned) as tracker:
            await response.write(opening)
            finished = await send_pieces(
                request,
                response,
                units,
                pace=knobs.pace,
                tracker=tracker,
                fault=fault,
                frame=lambda unit: unit[0],
                garbage=_GARBAGE,
                tokens=lambda unit: unit[1],
                stall_after=state.config.stall_after_chunks,
            )
            if not finished:
                return response
            tracker.sent(writer.reply.reasoning_tokens)
            if fault == "no_done":
                tracker.abort()  # everything but the final event: the body just ends
            else:
                await response.write(writer.completed())
                tracker.complete()
    except ConnectionResetError:
        return response  # the client went away; the tracker counted a cancel
    await response.write_eof()
    return response
