"""``/v1/messages``, ``/v1/messages/count_tokens`` and the model list in Anthropic's format."""

from __future__ import annotations

import uuid

import msgspec
from aiohttp import web

from simulator.admission import (
    Admission,
    admit,
    cut_connection,
    decode_body,
    malformed_json_response,
)
from simulator.answer import paced
from simulator.anthropic_answer import (
    Thought,
    content_blocks,
    conversation,
    request_segments,
    stop_reason,
    stream_events,
    tools_offered,
)
from simulator.anthropic_wire import (
    ContentBlockDelta,
    ContentBlockStart,
    ContentBlockStop,
    CountTokensRequest,
    Event,
    InputTokens,
    MessageDelta,
    MessagesRequest,
    MessageStart,
    MessageStop,
    ModelInfo,
    ModelPage,
    OutputUsage,
    Ping,
    StopDelta,
    Usage,
)
from simulator.anthropic_wire import Message as WireMessage
from simulator.errors import error_response
from simulator.limits import refusal
from simulator.prompt_cache import prompt_total
from simulator.reply import Reply, Shape, plan_replies
from simulator.sse import CUT_FAULTS, event_block, open_sse, send_pieces
from simulator.state import SIM_STATE, SimState
from simulator.tokens import count_text_tokens

ANTHROPIC_MODELS = ("claude-3-5-haiku-latest", "claude-haiku-4-5", "claude-sonnet-4-5")
_GARBAGE_EVENT = b'event: content_block_delta\ndata: {"type": "content_block_delta", "ind\n\n'

_encoder = msgspec.json.Encoder()


async def messages(request: web.Request) -> web.StreamResponse:
    """POST /v1/messages, JSON or SSE."""
    state = request.app[SIM_STATE]
    state.count_request("messages")
    admitted = await admit(request, state, "anthropic")
    if isinstance(admitted, web.Response):
        return admitted
    body = decode_body(await request.read(), MessagesRequest, "anthropic")
    if isinstance(body, web.Response):
        return body
    if not body.messages or body.max_tokens < 1:
        return error_response(
            "anthropic", "bad_request", "messages must be non-empty and max_tokens at least 1"
        )
    segments = request_segments(body)
    total = prompt_total(segments)
    refused = refusal(state, "anthropic", body.model, total, body.messages[-1].role)
    if refused is not None:
        return refused
    if admitted.fault in CUT_FAULTS and not body.stream:
        return cut_connection(request)
    talk = conversation(body)
    offers, choice = tools_offered(body)
    stop = tuple(body.stop_sequences or ())
    shape = Shape(body.max_tokens, admitted.knobs.output_tokens, stop)
    reply = plan_replies(talk, offers, choice, shape, call_prefix="toolu_")[0]
    thinking = body.thinking is not None and body.thinking.type == "enabled"
    thought = Thought.about(talk.question) if thinking else None
    output_tokens = reply.completion_tokens(body.model)
    output_tokens += count_text_tokens(thought.text, body.model) if thought else 0
    split = state.prompt_memory.anthropic_usage(body.model, segments)
    state.stats.prompt_tokens += total
    state.stats.cached_prompt_tokens += split.cache_read_input_tokens
    state.stats.cache_write_tokens += split.cache_creation_input_tokens
    usage = Usage(
        input_tokens=split.input_tokens,
        output_tokens=output_tokens,
        cache_creation_input_tokens=split.cache_creation_input_tokens,
        cache_read_input_tokens=split.cache_read_input_tokens,
    )
    message_id = f"msg_sim{uuid.uuid4().hex[:24]}"
    if body.stream:
        return await _stream(
            request, state, admitted, body.model, reply, thought, usage, message_id
        )
    async for _ in paced(reply.answer.pieces, admitted.knobs.pace):
        pass  # a JSON answer arrives when the whole stream would have finished
    if admitted.fault == "malformed":
        return malformed_json_response()
    state.stats.completion_tokens += output_tokens
    state.stats.responses_ok += 1
    answer = WireMessage(
        id=message_id,
        model=body.model,
        content=content_blocks(reply, thought),
        stop_reason=stop_reason(reply),
        usage=usage,
        stop_sequence=reply.answer.stop_sequence,
    )
    return web.Response(body=_encoder.encode(answer), content_type="application/json")


async def count_tokens(request: web.Request) -> web.StreamResponse:
    """POST /v1/messages/count_tokens: the prompt's input tokens."""
    state = request.app[SIM_STATE]
    state.count_request("messages.count_tokens")
    admitted = await admit(request, state, "anthropic")
    if isinstance(admitted, web.Response):
        return admitted
    body = decode_body(await request.read(), CountTokensRequest, "anthropic")
    if isinstance(body, web.Response):
        return body
    tools = sum(
        count_text_tokens(t.name + (t.description or ""), body.model)
        + count_text_tokens(_encoder.encode(t.input_schema or {}).decode(), body.model)
        for t in body.tools or []
    )
    state.stats.responses_ok += 1
    counted = InputTokens(prompt_total(request_segments(body)) + tools)
    return web.Response(body=_encoder.encode(counted), content_type="application/json")


def _event(event: Event) -> bytes:
    return event_block(_EVENT_NAMES[type(event)], _encoder.encode(event))


_EVENT_NAMES: dict[type, str] = {
    MessageStart: "message_start",
    ContentBlockStart: "content_block_start",
    Ping: "ping",
    ContentBlockDelta: "content_block_delta",
    ContentBlockStop: "content_block_stop",
    MessageDelta: "message_delta",
    MessageStop: "message_stop",
}


async def _stream(
    request: web.Request,
    state: SimState,
    admitted: Admission,
    model: str,
    reply: Reply,
    thought: Thought | None,
    usage: Usage,
    message_id: str,
) -> web.StreamResponse:
    # message_start reports input usage and a provisional output count, as Anthropic does.
    start_usage = Usage(
        input_tokens=usage.input_tokens,
        output_tokens=1,
        cache_creation_input_tokens=usage.cache_creation_input_tokens,
        cache_read_input_tokens=usage.cache_read_input_tokens,
    )
    start = WireMessage(id=message_id, model=model, content=[], stop_reason=None, usage=start_usage)
    events = stream_events(reply, thought, model)
    # Block starts and stops ride with the next delta; the first start goes out with the ping.
    head = _event(MessageStart(start)) + _event(events[0][0]) + _event(Ping())
    units: list[tuple[bytes, int]] = []
    pending = b""
    for event, tokens in events[1:]:
        pending += _event(event)
        if isinstance(event, ContentBlockDelta):
            units.append((pending, tokens))
            pending = b""
    planned = sum(tokens for _, tokens in units)
    response = await open_sse(request)
    try:
        with state.track_stream("messages", model, planned) as tracker:
            await response.write(head)
            finished = await send_pieces(
                request,
                response,
                units,
                pace=admitted.knobs.pace,
                tracker=tracker,
                fault=admitted.fault,
                frame=lambda unit: unit[0],
                garbage=_GARBAGE_EVENT,
                tokens=lambda unit: unit[1],
                stall_after=state.config.stall_after_chunks,
            )
            if not finished:
                return response
            stop = StopDelta(stop_reason(reply), reply.answer.stop_sequence)
            tail = pending + _event(MessageDelta(stop, OutputUsage(usage.output_tokens)))
            if admitted.fault == "no_done":
                await response.write(tail)  # no message_stop: the body just ends
                tracker.sent(usage.output_tokens - planned)
                tracker.abort()
            else:
                await response.write(tail + _event(MessageStop()))
                tracker.sent(usage.output_tokens - planned)
                tracker.complete()
    except ConnectionResetError:
        return response  # the client went away; the tracker counted a cancel
    await response.write_eof()
    return response


def anthropic_models() -> web.Response:
    """The Anthropic-format model list."""
    page = ModelPage(
        data=[
            ModelInfo(id=model, display_name=model, created_at="2025-01-01T00:00:00Z")
            for model in ANTHROPIC_MODELS
        ],
        has_more=False,
        first_id=ANTHROPIC_MODELS[0],
        last_id=ANTHROPIC_MODELS[-1],
    )
    return web.Response(body=_encoder.encode(page), content_type="application/json")
